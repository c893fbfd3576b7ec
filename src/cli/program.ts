/**
 * gmemsim command line (../shared/spec/cli.md): the command table, callable in-process as
 * runCli(argv) → exit status (main.ts is the process entry; the fuzzer calls runCli directly).
 * Heavy modules load lazily inside each command so that start-up stays small.
 */
import { Command, CommanderError, Option } from 'commander';
import { DiagnosticsError, UsageError } from './errors.ts';

/** a fresh command table (commander keeps parsed option values on its commands) */
function makeProgram(setExit: (code: number) => void): Command {
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

  program
    .command('run')
    .description('replay scenario files against the model; print each call, its result and the deciding rule')
    .argument('<files...>', 'scenario files (YAML or JSON, format gmemsim/1)')
    .option('--json', 'print one JSON document')
    .addOption(profileOption())
    .option(
      '--set <key=value>',
      'override a kernel knob (gmem_in_place_conversion, mmap_min_addr, safeguard.NAME)',
      collect,
      [],
    )
    .option('--quiet', 'no progress bar (it shows only on a terminal, for work over a second)')
    .action(async (files: string[], opts: { json?: boolean; quiet?: boolean; profile?: string; set: string[] }) => {
      const { runCommand } = await import('./run.ts');
      setExit(await runCommand(files, opts));
    });

  program
    .command('diff')
    .description('run the same scenarios under two profiles and print every step whose observable result differs')
    .argument('<files...>', 'scenario files')
    .requiredOption('--profile <name>', 'a kernel profile (give it twice: A then B)', collect, [])
    .option('--set <key=value>', 'override a kernel knob for both sides', collect, [])
    .option('--json', 'print one JSON document')
    .action(async (files: string[], opts: { profile: string[]; set: string[]; json?: boolean }) => {
      const { diffCommand } = await import('./diff.ts');
      setExit(diffCommand(files, opts));
    });

  program
    .command('demo')
    .description('the source-address ABI settled in the June 2026 KVM thread, under every kernel profile')
    .option('--json', 'print one JSON document')
    .option('--verbose', 'also print every step table')
    .action(async (opts: { json?: boolean; verbose?: boolean }) => {
      const { demoCommand } = await import('./demo.ts');
      setExit(demoCommand(opts));
    });

  program
    .command('explore')
    .description('bounded model checker: every short sequence of operations on a small VM, invariants after every step')
    .addOption(profileOption())
    .option('--set <key=value>', 'kernel knob, or safeguard.NAME=off to switch a safeguard off', collect, [])
    .option('--vm <kind>', 'tdx, snp or sw-protected', 'tdx')
    .option('--pages <n>', 'guest pages', '2')
    .option('--depth <d>', 'operations per sequence', '5')
    .option('--workers <w>', 'worker threads', '1')
    .option('--max-states <n>', 'stop with "limit reached" (exit 3) after this many states', '500000')
    .option('--json', 'print one JSON document')
    .option('--out <dir>', 'write each counterexample as a scenario file in DIR')
    .option('--list-safeguards', 'print the safeguards, one per line, name first')
    .option('--quiet', 'no progress bar (it shows only on a terminal, for work over a second)')
    .addHelpText(
      'after',
      '\nExit status: 0 every reachable state checked, no invariant broken; 1 an invariant broken (a\n' +
        'counterexample); 2 bad input; 3 --max-states reached first, nothing broken so far (not a proof).',
    )
    .action(async (opts) => {
      const { exploreCommand } = await import('./explore.ts');
      setExit(await exploreCommand(opts));
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
      setExit(rulesCommand(opts));
    });

  const measure = program
    .command('measure')
    .description('the launch measurement of a confidential VM, from the VMM sequence run through the model');
  measure
    .command('tdx')
    .description("the MRTD of a TD that QEMU launches on this TDVF firmware (QEMU's KVM_TDX_INIT_MEM_REGION sequence)")
    .requiredOption('--firmware <path>', 'the TDVF firmware image, as QEMU -bios takes it (e.g. OVMF.inteltdx.fd)')
    .option('--two-pass-add-pages', 'record order of QEMU 8.x TDX builds (KVM TDX v19): PAGE.ADDs of a section first')
    .addOption(
      new Option('--output-format <format>', 'how to print the MRTD').choices(['hex', 'base64']).default('hex'),
    )
    .option('--emit-scenario <file>', 'also write the sequence as a scenario file (replay it with gmemsim run)')
    .option('--json', 'print one JSON document: the MRTD and every KVM_TDX_INIT_MEM_REGION call')
    .option('--explain', 'print a table of the measuring calls (section, GPA range, pages, records), then the MRTD')
    .action(async (opts: import('./measure.ts').MeasureTdxOptions) => {
      const { measureTdxCommand } = await import('./measure.ts');
      setExit(await measureTdxCommand(opts));
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
      setExit(await measureSnpCommand(opts as import('./measure-snp.ts').MeasureSnpOptions));
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
    .option('--set <key=value>', 'override a kernel knob (as for run)', collect, [])
    .option('--quiet', 'no progress bar (it shows only on a terminal, for work over a second)')
    .action(
      async (file: string, opts: { port?: string; out?: string; profile?: string; set: string[]; quiet?: boolean }) => {
        const { viewCommand } = await import('./view.ts');
        setExit(await viewCommand(file, opts));
      },
    );

  program
    .command('schema')
    .description('print the JSON Schema of scenario files (for editors)')
    .action(async () => {
      const { schemaCommand } = await import('./schema.ts');
      setExit(schemaCommand());
    });

  return program;
}

/** run one command line (the arguments after `gmemsim`); resolves to the exit status */
export async function runCli(argv: readonly string[]): Promise<number> {
  let code = 0;
  const program = makeProgram((c) => {
    code = c;
  });
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return code;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof DiagnosticsError) {
      process.stderr.write(`${e.message}\n`);
      return 2;
    }
    if (e instanceof UsageError) {
      process.stderr.write(`gmemsim: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
}
