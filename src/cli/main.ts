/**
 * gmemsim command line (../shared/spec/cli.md). Heavy modules load lazily inside each command so
 * that start-up stays small.
 */
import { Argument, Command, CommanderError, Option } from 'commander';
import { describeKind, KnobDecls } from '../core/decl.ts';
import { DiagnosticsError, UsageError } from './errors.ts';
import { TOPIC_NAMES } from './topics.ts';

// a reader that goes away (`gmemsim rules | head`) is not an error
process.stdout.on('error', (e: NodeJS.ErrnoException) => {
  if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  throw e;
});

const program = new Command();
program
  .name('gmemsim')
  .description(
    'An executable model of the Linux KVM uAPI for confidential-VM private memory: guest_memfd, memslots,\n' +
      'memory attributes, TDX and SEV-SNP population, and the launch measurement a sequence yields.',
  )
  .version('0.1.0')
  .showHelpAfterError('(run with --help for usage)')
  .exitOverride()
  .configureOutput({ writeErr: (s) => process.stderr.write(s) });

const profileOption = () =>
  new Option('--profile <name>', 'kernel profile: pre-2a62345b3052, mainline, kvm-x86, in-place, yan-proposal');
const collect = (v: string, prev: string[]) => [...prev, v];
/** `--set`'s help, from the declaration of the knobs (core/decl.ts) */
const SET_HELP = `override a kernel setting, as a file's kernel: section would (repeatable): ${[
  ...Object.entries(KnobDecls).map(([name, d]) => `${name}=${describeKind(d.kind)}`),
  'safeguard.NAME=on|off',
].join('; ')}`;

program
  .command('run')
  .description('replay scenario files against the model; print each call, its result and the deciding rule')
  .argument('<files...>', 'scenario files (YAML or JSON, format gmemsim/1)')
  .option('--json', 'print one JSON document')
  .addOption(profileOption())
  .option('--set <key=value>', SET_HELP, collect, [])
  .action(async (files: string[], opts: { json?: boolean; profile?: string; set: string[] }) => {
    const { runCommand } = await import('./run.ts');
    process.exitCode = runCommand(files, opts);
  });

program
  .command('diff')
  .description('run the same scenarios under two profiles and print every step whose observable result differs')
  .argument('<files...>', 'scenario files')
  .requiredOption('--profile <name>', 'a kernel profile (give it twice: A then B)', collect, [])
  .option('--set <key=value>', `${SET_HELP}; for both sides`, collect, [])
  .option('--json', 'print one JSON document')
  .action(async (files: string[], opts: { profile: string[]; set: string[]; json?: boolean }) => {
    const { diffCommand } = await import('./diff.ts');
    process.exitCode = diffCommand(files, opts);
  });

program
  .command('demo')
  .description('the source-address ABI settled in the June 2026 KVM thread, under every kernel profile')
  .option('--json', 'print one JSON document')
  .option('--verbose', 'also print every step table')
  .action(async (opts: { json?: boolean; verbose?: boolean }) => {
    const { demoCommand } = await import('./demo.ts');
    process.exitCode = demoCommand(opts);
  });

program
  .command('explore')
  .description('bounded model checker: every short sequence of operations on a small VM, invariants after every step')
  .addOption(profileOption())
  .option('--set <key=value>', SET_HELP, collect, [])
  .option('--vm <kind>', 'tdx, snp or sw-protected', 'tdx')
  .option('--pages <n>', 'guest pages', '2')
  .option('--depth <d>', 'operations per sequence', '5')
  .option('--workers <w>', 'worker threads', '1')
  .option('--max-states <n>', 'stop with "limit reached" after this many states', '500000')
  .option('--json', 'print one JSON document')
  .option('--out <dir>', 'write each counterexample as a scenario file in DIR')
  .option('--list-safeguards', 'print the safeguards, one per line, name first')
  .action(async (opts) => {
    const { exploreCommand } = await import('./explore.ts');
    process.exitCode = await exploreCommand(opts);
  });

program
  .command('rules')
  .description('print the rule catalogue: every check the model makes, its errno and kernel citation')
  .option('--ioctl <name>', 'only the rules of this ioctl or operation')
  .addOption(profileOption())
  .option('--json', 'print one JSON document')
  .option('--markdown', 'print the catalogue as Markdown (docs/uapi.md)')
  .action(async (opts: { ioctl?: string; profile?: string; json?: boolean; markdown?: boolean }) => {
    const { rulesCommand } = await import('./rules.ts');
    process.exitCode = rulesCommand(opts);
  });

const measure = program
  .command('measure')
  .description('the launch measurement of a confidential VM, from the VMM sequence run through the model');
measure
  .command('tdx')
  .description("the MRTD of a TD that QEMU launches on this TDVF firmware (QEMU's KVM_TDX_INIT_MEM_REGION sequence)")
  .requiredOption('--firmware <path>', 'the TDVF firmware image, as QEMU -bios takes it (e.g. OVMF.inteltdx.fd)')
  .option('--two-pass-add-pages', 'record order of QEMU 8.x TDX builds (KVM TDX v19): PAGE.ADDs of a section first')
  .addOption(new Option('--output-format <format>', 'how to print the MRTD').choices(['hex', 'base64']).default('hex'))
  .option('--emit-scenario <file>', 'also write the sequence as a scenario file (replay it with gmemsim run)')
  .option('--json', 'print one JSON document: the MRTD and every KVM_TDX_INIT_MEM_REGION call')
  .option('--explain', 'print a table of the measuring calls (section, GPA range, pages, records), then the MRTD')
  .action(async (opts: import('./measure.ts').MeasureTdxOptions) => {
    const { measureTdxCommand } = await import('./measure.ts');
    process.exitCode = await measureTdxCommand(opts);
  });
measure
  .command('snp')
  .description(
    "the launch digest of an SEV-SNP guest on this OVMF (the VMM's SNP_LAUNCH_UPDATE sequence); sev-snp-measure's flags",
  )
  .addOption(
    new Option('--mode <mode>', 'snp, snp:ovmf-hash (the digest after the firmware pages) or snp:svsm')
      .choices(['snp', 'snp:ovmf-hash', 'snp:svsm'])
      .default('snp'),
  )
  .option('--vcpus <n>', 'number of guest vCPUs')
  .addOption(
    new Option('--vcpu-type <name>', 'guest vCPU type (QEMU -cpu model)').choices([
      'EPYC',
      'EPYC-v1',
      'EPYC-v2',
      'EPYC-IBPB',
      'EPYC-v3',
      'EPYC-v4',
      'EPYC-Rome',
      'EPYC-Rome-v1',
      'EPYC-Rome-v2',
      'EPYC-Rome-v3',
      'EPYC-Milan',
      'EPYC-Milan-v1',
      'EPYC-Milan-v2',
      'EPYC-Genoa',
      'EPYC-Genoa-v1',
      'EPYC-Turin',
    ]),
  )
  .option('--vcpu-sig <value>', 'guest vCPU signature (CPUID 1 EAX)')
  .option('--vcpu-family <family>', 'guest vCPU family')
  .option('--vcpu-model <model>', 'guest vCPU model')
  .option('--vcpu-stepping <stepping>', 'guest vCPU stepping')
  .option(
    '--vmm-type <type>',
    'type of guest VMM (QEMU, ec2, gce; ec2_legacy: ec2 with RDX 0, as before v0.0.13)',
    'QEMU',
  )
  .requiredOption('--ovmf <path>', 'the OVMF firmware image, as QEMU -bios takes it (e.g. OVMF.amdsev.fd)')
  .option('--kernel <path>', 'kernel file whose hash the SEV hash table carries (measured direct boot)')
  .option('--initrd <path>', 'initrd file to hash (with --kernel)')
  .option('--append <cmdline>', 'kernel command line to hash (with --kernel)')
  .option('--guest-features <value>', 'VMSA sev_features: 0x1 SNPActive, 0x21 with DebugSwap', '0x1')
  .option('--snp-ovmf-hash <hash>', 'precalculated OVMF hash (hex, from --mode snp:ovmf-hash): the firmware pages')
  .option('--svsm <path>', 'snp:svsm: the Coconut SVSM binary')
  .option('--vars-size <size>', 'snp:svsm: size of the OVMF_VARS file in bytes')
  .option('--vars-file <path>', 'snp:svsm: the OVMF_VARS file (its size is used)')
  .addOption(
    new Option('--output-format <format>', 'how to print the digest (snp:ovmf-hash always prints hex)')
      .choices(['hex', 'base64'])
      .default('hex'),
  )
  .option('--emit-scenario <file>', 'also write the sequence as a scenario file (replay it with gmemsim run)')
  .option('--json', 'print one JSON document: the digest and every measuring call')
  .option('--explain', 'print a table of the measuring calls (type, GPA range, pages, records), then the digest')
  .action(async (opts) => {
    const { measureSnpCommand } = await import('./measure-snp.ts');
    process.exitCode = await measureSnpCommand(opts as import('./measure-snp.ts').MeasureSnpOptions);
  });

program
  .command('view')
  .description(
    'run a scenario and draw it: steps beside the page map of guest_memfd offsets and GPAs, rules, measurement\n' +
      '(served on 127.0.0.1, or written as one self-contained HTML file with --out)',
  )
  .argument('<file>', 'a scenario file (YAML or JSON, format gmemsim/1)')
  .option('--port <n>', 'serve on 127.0.0.1 at this port (default: any free port)')
  .option('--out <file>', 'write one self-contained HTML report instead of serving')
  .addOption(profileOption())
  .option('--set <key=value>', SET_HELP, collect, [])
  .addHelpText(
    'after',
    '\nExit status: 0 the report was written (--out), or the server stopped (Ctrl-C, SIGTERM); a run whose\n' +
      'expectations fail is drawn, not an error. 2 usage or an invalid scenario (FILE:LINE:COL on stderr)\n' +
      'or a port in use. Served, the page follows the file: edits show at once, an invalid file its error.\n' +
      'Keys and search: gmemsim help view.',
  )
  .action(async (file: string, opts: { port?: string; out?: string; profile?: string; set: string[] }) => {
    const { viewCommand } = await import('./view.ts');
    process.exitCode = await viewCommand(file, opts);
  });

program
  .command('schema')
  .description('print the JSON Schema of scenario files (for editors)')
  .action(async () => {
    const { schemaCommand } = await import('./schema.ts');
    process.exitCode = schemaCommand();
  });

program
  .command('completion')
  .description('print a shell completion script for gmemsim (bash, zsh or fish)')
  .addArgument(new Argument('<shell>', 'the shell').choices(['bash', 'zsh', 'fish']))
  .addHelpText(
    'after',
    '\nbash: eval "$(gmemsim completion bash)" in ~/.bashrc\n' +
      // biome-ignore lint/suspicious/noTemplateCurlyInString: shell text
      'zsh:  gmemsim completion zsh > "${fpath[1]}/_gmemsim" (then compinit), or source <(gmemsim completion zsh)\n' +
      'fish: gmemsim completion fish > ~/.config/fish/completions/gmemsim.fish',
  )
  .action(async (shell: string) => {
    const { completionCommand } = await import('./completion.ts');
    process.exitCode = completionCommand(program, shell);
  });

program.helpCommand(false);
program
  .command('help')
  .description('help on a command (gmemsim help run) or a topic (gmemsim help scenario); the topics: gmemsim help')
  .addArgument(
    new Argument('[topic]', 'a command or a topic').choices([
      ...new Set([...program.commands.map((c) => c.name()), ...TOPIC_NAMES]),
    ]),
  )
  .action(async (topic: string | undefined) => {
    const { topicList, topicText } = await import('./topics.ts');
    const cmd = topic === undefined ? undefined : program.commands.find((c) => c.name() === topic);
    if (topic === undefined) process.stdout.write(`${program.helpInformation()}\n${topicList()}`);
    else {
      // a command's help, then the topic of the same name (view)
      cmd?.outputHelp();
      const text = topicText(topic);
      if (text) process.stdout.write(cmd ? `\n${text}` : text);
    }
    process.exitCode = 0;
  });
program.addHelpText(
  'after',
  '\nTopics: gmemsim help scenario | profiles | settings | exit-codes | editor | view | json',
);

async function main(): Promise<void> {
  try {
    await program.parseAsync(process.argv);
  } catch (e) {
    if (e instanceof CommanderError) {
      process.exitCode = e.exitCode === 0 ? 0 : 2;
      return;
    }
    if (e instanceof DiagnosticsError) {
      process.stderr.write(`${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`gmemsim: ${e.message}\n`);
      process.exitCode = 2;
      return;
    }
    throw e;
  }
}

await main();
