/**
 * gmemsim command line (../shared/spec/cli.md): the command table, callable in-process as
 * runCli(argv) → exit status (main.ts is the process entry; the fuzzer calls runCli directly).
 * Heavy modules load lazily inside each command so that start-up stays small.
 */
import { Argument, Command, CommanderError, Option } from 'commander';
import { describeKind, KnobDecls } from '../core/decl.ts';
import { HostPresetNames } from '../core/host.ts';
import { DiagnosticsError, UsageError } from './errors.ts';
import { TOPIC_NAMES } from './topics.ts';

/** a fresh command table (commander keeps parsed option values on its commands) */
function makeProgram(setExit: (code: number) => void): Command {
  const program = new Command();
  program
    .name('gmemsim')
    .description(
      'An executable model of the Linux KVM uAPI for confidential-VM private memory: guest_memfd, memslots, ' +
        'memory attributes, TDX and SEV-SNP population, and the launch measurement a sequence yields.',
    )
    .version('0.1.0')
    .showHelpAfterError('(run with --help for usage)')
    .exitOverride()
    .configureOutput({
      writeErr: (s) => process.stderr.write(s),
      // one style for every error line: commander's own ("error: ...") as gmemsim's
      outputError: (s, write) => write(s.replace(/^error: /, 'gmemsim: ')),
    });

  const profileOption = () =>
    new Option(
      '--profile <name>',
      'kernel profile (gmemsim profiles): next-20260923, kvm-x86-next, v7.3, v7.2, v7.1, pre-2a62345b3052, v6.18, yan-proposal; aliases mainline, kvm-x86, in-place',
    );
  const collect = (v: string, prev: string[]) => [...prev, v];
  const HOST_HELP = `the model's host configuration: a preset (${HostPresetNames.join(', ')}), a host file (gmemsim host --json), or live (this machine's /dev/kvm); default: model`;
  /** `--set`'s help, from the declaration of the knobs (core/decl.ts) */
  const SET_HELP = `override a kernel setting, as a file's kernel: section would (repeatable): ${[
    ...Object.entries(KnobDecls).map(([name, d]) => `${name}=${describeKind(d.kind)}`),
    'safeguard.NAME=on|off',
  ].join('; ')}`;
  const QUIET_HELP = 'no progress bar (it shows only on a terminal, for work over a second)';
  const profileFileOption = () =>
    new Option(
      '--profile-file <file>',
      'a kernel profile as a YAML file: base: PROFILE plus the profile fields it changes (e.g. profiles/yan-proposal.yaml)',
    );

  program
    .command('run')
    .description('replay scenario files against the model; print each call, its result and the deciding rule')
    .argument('<files...>', 'scenario files (YAML or JSON, format gmemsim/1)')
    .option('--json', 'print one JSON document')
    .addOption(profileOption())
    .addOption(profileFileOption())
    .option('--set <key=value>', SET_HELP, collect, [])
    .option('--host <preset|FILE|live>', HOST_HELP)
    .option('--live', 'also run every step on the running kernel (/dev/kvm) and compare, step by step')
    .option('--quiet', QUIET_HELP)
    .addHelpText(
      'after',
      '\nExit status: 0 every expectation held; 1 an expectation failed (or, with --live, a step differed\n' +
        'from the running kernel); 2 bad input (one FILE:LINE:COL line each; the other files still run).',
    )
    .action(
      async (
        files: string[],
        opts: {
          json?: boolean;
          quiet?: boolean;
          profile?: string;
          profileFile?: string;
          set: string[];
          live?: boolean;
          host?: string;
        },
      ) => {
        if (opts.live) {
          const { liveCommand } = await import('./live.ts');
          setExit(await liveCommand(files, opts));
          return;
        }
        const { resolveHost } = await import('./hostopt.ts');
        const host = await resolveHost(opts.host);
        const { runCommand } = await import('./run.ts');
        const { host: _spec, ...rest } = opts;
        setExit(await runCommand(files, { ...rest, ...(host ? { host } : {}) }));
      },
    );

  program
    .command('host')
    .description(
      "describe the running kernel's KVM: API version, capabilities, VM types, guest_memfd flags, host fields",
    )
    .option('--json', 'print the host file (docs/host-format.md)')
    .action(async (opts: { json?: boolean }) => {
      const { hostCommand } = await import('./host.ts');
      setExit(await hostCommand(opts));
    });

  program
    .command('diff')
    .description('run the same scenarios under two profiles and print every step whose observable result differs')
    .argument('<files...>', 'scenario files')
    .option(
      '--profile <name>',
      'a kernel profile (give it twice: A then B; or once, with --profile-file as B)',
      collect,
      [],
    )
    .option('--profile-file <file>', 'a profile file (YAML: base plus changed fields) as side B', collect, [])
    .option('--set <key=value>', `${SET_HELP}; for both sides`, collect, [])
    .option('--json', 'print one JSON document')
    .addHelpText('after', '\nExit status: 0 no step differs; 1 some step differs; 2 bad input.')
    .action(
      async (files: string[], opts: { profile: string[]; profileFile: string[]; set: string[]; json?: boolean }) => {
        const { diffCommand } = await import('./diff.ts');
        setExit(await diffCommand(files, opts));
      },
    );

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
    .addOption(profileFileOption())
    .option('--set <key=value>', SET_HELP, collect, [])
    .option('--vm <kind>', 'tdx, snp or sw-protected', 'tdx')
    .option('--pages <n>', 'guest pages', '2')
    .option('--depth <d>', 'operations per sequence', '5')
    .option('--workers <w>', 'worker threads', '1')
    .option('--max-states <n>', 'stop with "limit reached" (exit 3) after this many states', '500000')
    .option('--json', 'print one JSON document')
    .option('--out <dir>', 'write each counterexample as a scenario file in DIR')
    .option('--list-safeguards', 'print the safeguards, one per line, name first')
    .option('--quiet', QUIET_HELP)
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
    .addOption(profileFileOption())
    .option('--json', 'print one JSON document')
    .option('--markdown', 'print the catalogue as Markdown (docs/uapi.md)')
    .action(
      async (opts: { ioctl?: string; profile?: string; profileFile?: string; json?: boolean; markdown?: boolean }) => {
        const { rulesCommand } = await import('./rules.ts');
        setExit(await rulesCommand(opts));
      },
    );

  const measure = program
    .command('measure')
    .description('the launch measurement of a confidential VM, from the VMM sequence run through the model');
  measure
    .command('tdx')
    .description("the MRTD of a TD that QEMU launches on this TDVF firmware (QEMU's KVM_TDX_INIT_MEM_REGION sequence)")
    .requiredOption('--firmware <path>', 'the TDVF firmware image, as QEMU -bios takes it (e.g. OVMF.inteltdx.fd)')
    .option('--two-pass-add-pages', 'record order of QEMU 8.x TDX builds (KVM TDX v19): PAGE.ADDs of a section first')
    .option(
      '--qemu-version <v>',
      "the QEMU that launches the TD (8.2, 9.0-tdx, 10.1, ...): its record order (README's QEMU table)",
    )
    .addOption(
      new Option('--output-format <format>', 'how to print the MRTD').choices(['hex', 'base64']).default('hex'),
    )
    .option('--emit-scenario <file>', 'also write the sequence as a scenario file (replay it with gmemsim run)')
    .option('--json', 'print one JSON document: the MRTD and every KVM_TDX_INIT_MEM_REGION call')
    .option('--explain', 'print a table of the measuring calls (section, GPA range, pages, records), then the MRTD')
    .option(
      '--expect <hex>',
      'compare with this MRTD: MATCH, or MISMATCH and the launch variants that explain it (exit 0/1)',
    )
    .option('--report <file>', 'as --expect, with the MRTD of a TDREPORT_STRUCT or a TDX quote (v4, v5)')
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
    .option(
      '--ovmf <path>',
      'the OVMF firmware image, as QEMU -bios takes it (e.g. OVMF.amdsev.fd); required unless --ovmf-metadata',
    )
    .option(
      '--ovmf-metadata <json>',
      "with --snp-ovmf-hash instead of --ovmf: the OVMF's SEV metadata and reset EIP (sev-snp-measure-go's ovmf_img JSON)",
    )
    .option('--kernel <path>', 'kernel file whose hash the SEV hash table carries (measured direct boot)')
    .option('--initrd <path>', 'initrd file to hash (with --kernel)')
    .option('--append <cmdline>', 'kernel command line to hash (with --kernel)')
    .option('--guest-features <value>', 'VMSA sev_features: 0x1 SNPActive, 0x21 with DebugSwap (default: 0x1)')
    .option('--snp-ovmf-hash <hash>', 'precalculated OVMF hash (hex, from --mode snp:ovmf-hash): the firmware pages')
    .option('--svsm <path>', 'snp:svsm: the Coconut SVSM binary')
    .option('--vars-size <size>', 'snp:svsm: size of the OVMF_VARS file in bytes')
    .option('--vars-file <path>', 'snp:svsm: the OVMF_VARS file (its size is used)')
    .option('--dump-vmsa', 'write the measured VMSAs to vmsa<N>.bin in the current directory (snp, snp:svsm)')
    .option('-v, --verbose', "print 'Calculated SEV_SNP guest measurement: ...' as sev-snp-measure -v does")
    .addOption(
      new Option('--output-format <format>', 'how to print the digest (snp:ovmf-hash always prints hex)')
        .choices(['hex', 'base64'])
        .default('hex'),
    )
    .option('--emit-scenario <file>', 'also write the sequence as a scenario file (replay it with gmemsim run)')
    .option('--json', 'print one JSON document: the digest and every measuring call')
    .option('--explain', 'print a table of the measuring calls (type, GPA range, pages, records), then the digest')
    .option(
      '--expect <hex>',
      'compare with this digest: MATCH, or MISMATCH and the launch variants that explain it (exit 0/1)',
    )
    .option('--report <file>', 'as --expect, with the MEASUREMENT of an SEV-SNP attestation report (v2, v3, v5)')
    .option('--max-vcpus <n>', 'with --expect/--report: vCPU counts tried, 1..N (default 64)')
    .action(async (opts) => {
      const { measureSnpCommand } = await import('./measure-snp.ts');
      setExit(await measureSnpCommand(opts as import('./measure-snp.ts').MeasureSnpOptions));
    });
  measure
    .command('diff')
    .description(
      'two launches record by record: the first measured record where they part (GPA, type, section, call) and what follows',
    )
    .argument('<platform>', 'tdx or snp')
    .argument('<options...>', "A's options (those of measure tdx|snp), then --vs and the options B changes")
    .option('--context <n>', 'records shown after the first difference', '3')
    .option(
      '--vs-scenario <file>',
      "B is this scenario file's launch (its attest step), e.g. one --emit-scenario wrote and then edited",
    )
    .option('--json', 'print one JSON document')
    .allowUnknownOption()
    .action(
      async (platform: string, args: string[], opts: { json?: boolean; context?: string; vsScenario?: string }) => {
        const { measureDiffCommand } = await import('./measure-diff.ts');
        setExit(await measureDiffCommand(platform, args, opts));
      },
    );

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
    .addOption(profileFileOption())
    .option('--set <key=value>', SET_HELP, collect, [])
    .option('--quiet', QUIET_HELP)
    .addHelpText(
      'after',
      '\nExit status: 0 the report was written (--out), or the server stopped (Ctrl-C, SIGTERM); a run whose\n' +
        'expectations fail is drawn, not an error. 2 usage or an invalid scenario (FILE:LINE:COL on stderr)\n' +
        'or a port in use. Served, the page follows the file: edits show at once, an invalid file its error.\n' +
        'Keys and search: gmemsim help view.',
    )
    .action(async (file: string, opts: import('./view.ts').ViewOptions) => {
      const { viewCommand } = await import('./view.ts');
      setExit(await viewCommand(file, opts));
    });

  program
    .command('profiles')
    .description('the kernel profiles, newest first: era, date, the tree and commit each follows, what changed')
    .option('--json', 'print one JSON document (with every behaviour field)')
    .action(async (opts: { json?: boolean }) => {
      const { profilesCommand } = await import('./profiles.ts');
      setExit(profilesCommand(opts));
    });

  program
    .command('schema')
    .description('print the JSON Schema of scenario files (for editors)')
    .action(async () => {
      const { schemaCommand } = await import('./schema.ts');
      setExit(schemaCommand());
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
      setExit(completionCommand(program, shell));
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
      setExit(0);
    });
  program.addHelpText(
    'after',
    '\nTopics: gmemsim help scenario | profiles | settings | exit-codes | editor | view | json',
  );

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
