/**
 * `gmemsim help TOPIC`: short pages on what the commands' --help does not cover (the scenario
 * format, kernel profiles, settings, exit codes, editors, the view, the JSON document). The
 * profile and setting pages are generated from their declarations.
 */
import { describeKind, KnobDecls } from '../core/decl.ts';
import { DEFAULT_PROFILE, ProfileNames, Profiles } from '../core/profiles.ts';

const TOPICS: Record<string, { summary: string; text: () => string }> = {
  scenario: {
    summary: 'the scenario file format (gmemsim/1)',
    text: () => `A scenario is a YAML (or JSON) file: a VMM's sequence of calls, each with what it expects.

  format: gmemsim/1
  name: double add of a TDX page
  kernel: { profile: in-place, gmem_in_place_conversion: true }   # optional
  steps:
    - KVM_CREATE_VM: { type: KVM_X86_TDX_VM }
      as: vm                      # name the result (an fd or address) for later steps
      expect: ok                  # or { errno: EIO }, { signal: SIGBUS }, { ret: 0, data: {...} }
    - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x4000 }
      as: gmem
      note: shown beside the step

Each step is one operation (an ioctl, a syscall such as mmap or fallocate, a load or store, or
attest) with its fields by their uAPI names; flags and enums by name. A step without expect is
run and shown but not checked. Invalid files are reported as FILE:LINE:COL: message.
Every operation and field, with descriptions: gmemsim schema (see: gmemsim help editor).
Examples: test/scenarios/examples/ in the repository; gmemsim measure tdx --emit-scenario FILE.`,
  },
  profiles: {
    summary: 'the kernel profiles a scenario runs under (--profile)',
    text: () =>
      [
        'A profile is one kernel tree as data: every behaviour that differs between trees. A file picks',
        `one in its kernel: section; --profile overrides it. The default is ${DEFAULT_PROFILE}.`,
        '',
        ...ProfileNames.map((n) => `  ${n.padEnd(18)} ${Profiles[n].summary}`),
        '',
        'gmemsim diff --profile A --profile B FILE... prints the steps whose results differ.',
      ].join('\n'),
  },
  settings: {
    summary: "the kernel: section's settings and --set KEY=VALUE",
    text: () =>
      [
        "A file's kernel: section and --set KEY=VALUE (run, diff, view, explore) take the same settings,",
        'checked the same way; a setting the profile does not have is refused.',
        '',
        ...Object.entries(KnobDecls).map(([k, d]) => `  ${k}: ${describeKind(d.kind)}\n      ${d.doc}`),
        '  safeguard.NAME=on|off: switch off one of the model safeguards (gmemsim explore --list-safeguards)',
      ].join('\n'),
  },
  'exit-codes': {
    summary: 'what the exit status means, command by command',
    text: () => `0  success: every expectation held (run), no step differs (diff), the digest was printed
   (measure), no invariant broke (explore), the report was written or the server stopped (view)
1  the command worked but a check failed: an expectation (run), a difference between the two
   kernels (diff), an invariant with a counterexample (explore)
2  bad input or usage: an invalid scenario (FILE:LINE:COL: message on stderr), an unreadable
   firmware file, an unknown flag or profile; never a stack trace
view exits 0 even when the run's expectations fail: the page shows them.`,
  },
  editor: {
    summary: 'completion and checking of scenario files in an editor (JSON Schema)',
    text: () => `gmemsim schema prints the JSON Schema of scenario files; the package ships it as
schema/gmemsim-1.schema.json. Editors with the YAML language server (VS Code's YAML extension,
Neovim or Helix with yaml-language-server) use it when a scenario's first line names it, by a
path relative to the scenario file (or absolute), e.g. in a project that installed gmemsim:

  # yaml-language-server: $schema=../node_modules/gmemsim/schema/gmemsim-1.schema.json

or, for the scenarios of a gmemsim checkout, test/scenarios/tdx/x.yaml:

  # yaml-language-server: $schema=../../../schema/gmemsim-1.schema.json

To use it for every scenario in a project (VS Code settings.json):

  "yaml.schemas": { "./node_modules/gmemsim/schema/gmemsim-1.schema.json": "scenarios/**/*.yaml" }`,
  },
  view: {
    summary: 'the page of gmemsim view: keys, search, the map',
    text: () => `gmemsim view FILE serves the run on 127.0.0.1 and follows the file: edit it and the page
shows the new run, or the file's FILE:LINE:COL error until it loads again. --out FILE writes one
self-contained HTML report instead.

keys    ← → or j k: previous/next step · Home End · PageUp PageDown · n p: next/previous step
        with an errno or signal · /: search (Enter keeps it, Escape clears it)
search  words match the call, result, rule and note; op:NAME errno:EIO signal:SIGBUS rule:ID
        gpa:0x80a000 (steps that changed or name that address) status:problem line:N
map     a GPA band per VM (opening on its memslots) and a band per guest_memfd; point at a GPA to
        see its guest_memfd offset and the other way; click a range to select it, double-click
        to zoom; #step=N in the address opens that step.`,
  },
  json: {
    summary: 'the run document of run --json (gmemsim-run/1)',
    text: () => `gmemsim run --json FILE... prints one document: { format: "gmemsim-run/1", ok, runs: [...] }.
Each run has its objects (guest_memfds, VMs and memslots at the end), and each step its call (as
the step table prints it), ret, errno or signal, the rule (id, reason, citation: repo, path,
commit, function), expect_ok and checks when it has an expectation, and the page-state changes
and launch state after it (what gmemsim view draws). Reference: docs/trace-format.md.`,
  },
};

export const TOPIC_NAMES = Object.keys(TOPICS);

/** the list of topics, for `gmemsim help` */
export function topicList(): string {
  const w = Math.max(...TOPIC_NAMES.map((t) => t.length));
  return `Topics (gmemsim help TOPIC):\n${TOPIC_NAMES.map((t) => `  ${t.padEnd(w)}  ${TOPICS[t]!.summary}`).join('\n')}\n`;
}

export function topicText(name: string): string | null {
  const t = TOPICS[name];
  return t ? `${t.text()}\n` : null;
}
