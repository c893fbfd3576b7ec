/** The explorer: configuration, setup, expansion in-process or on worker threads, counterexample files. */
import type { Kernel } from '../core/kernel.ts';
import type { Knobs, Profile, ProfileName } from '../core/profiles.ts';
import { emitScenario } from '../scenario/emit.ts';
import type { KernelSection, Step } from '../scenario/load.ts';
import { canonical } from './canonical.ts';
import { type Action, alphabet, type Handles, runSetup, setup, type VmKind } from './model.ts';
import { type Child, type Counterexample, expand, fingerprint, type SearchResult, search } from './search.ts';

export interface ExploreConfig {
  profile: ProfileName;
  /** a --profile-file's profile (plain data, so workers get it too); `profile` is then its base */
  custom?: Profile;
  knobs: Partial<Knobs>;
  vm: VmKind;
  pages: number;
  depth: number;
  maxStates: number;
}

export type KernelFactory = (profile: ProfileName, knobs: Partial<Knobs>) => Kernel;

/** Everything a process (main or worker) needs to expand paths. */
export class Explorer {
  readonly root: Kernel;
  readonly handles: Handles;
  readonly actions: Action[];
  readonly setupSteps: Step[];

  constructor(cfg: ExploreConfig, make: KernelFactory) {
    this.root = make(cfg.profile, cfg.knobs);
    const inPlace = this.root.inPlace;
    const s = setup(cfg.vm, cfg.pages, inPlace);
    this.setupSteps = s.steps;
    this.handles = runSetup(this.root, s);
    this.actions = alphabet({ vm: cfg.vm, pages: cfg.pages, inPlace });
  }

  replay(path: number[]): Kernel {
    const k = this.root.clone();
    for (const a of path) k.step(this.actions[a]!.op(this.handles));
    return k;
  }

  expandPaths(paths: number[][]): Child[] {
    return expand(
      paths.map((p) => this.replay(p)),
      this.actions,
      this.handles,
    );
  }

  rootSig(): string {
    return fingerprint(canonical(this.root));
  }
}

export interface ExploreOutcome extends SearchResult {
  actions: number;
  ms: number;
}

export interface Pool {
  size: number;
  expand(paths: number[][]): Promise<Child[]>;
  /** resolves once every worker has loaded */
  ready(): Promise<void>;
  close(): Promise<void>;
}

export async function explore(
  cfg: ExploreConfig,
  make: KernelFactory,
  pool: Pool | null,
  onProgress?: (p: { depth: number; states: number; frontier: number; done: number }) => void,
  now: () => number = () => 0,
): Promise<{ outcome: ExploreOutcome; explorer: Explorer }> {
  const ex = new Explorer(cfg, make);
  const t0 = now();
  const res = await search(
    {
      depth: cfg.depth,
      maxStates: cfg.maxStates,
      expandPaths: (paths) => (pool ? pool.expand(paths) : ex.expandPaths(paths)),
      ...(onProgress ? { onProgress } : {}),
    },
    ex.rootSig(),
  );
  return { outcome: { ...res, actions: ex.actions.length, ms: now() - t0 }, explorer: ex };
}

/** A counterexample as a scenario: the set-up, the path, and a last step that expects the violation. */
export function counterexampleYaml(cfg: ExploreConfig, ex: Explorer, c: Counterexample): string {
  const k = ex.root;
  const off = Object.entries(cfg.knobs.safeguards ?? {}).filter(([, on]) => !on);
  const kernel: KernelSection = { profile: cfg.profile };
  if (k.profile.inPlaceSeries) kernel.gmem_in_place_conversion = k.knobs.gmem_in_place_conversion;
  if (off.length) kernel.safeguards = Object.fromEntries(off.map(([n]) => [n, 'off' as const]));
  const path = c.path.map((a, i) => {
    const step = { ...ex.actions[a]!.step };
    if (i === c.path.length - 1) step.expect = { violates: c.invariant };
    return step;
  });
  const steps = [...ex.setupSteps, ...path].map((s, index) => ({ ...s, index }));
  return emitScenario({
    file: 'counterexample.yaml',
    name: `counterexample: ${c.invariant} (${cfg.vm}, ${cfg.pages} pages)`,
    description: [
      `Found by gmemsim explore (profile ${cfg.custom ? `file ${cfg.custom.name} on ${cfg.profile}` : cfg.profile}${off.length ? `, safeguards off: ${off.map(([n]) => n).join(', ')}` : ''}).`,
      c.detail,
      "The last step's expectation names the invariant it breaks; replay with gmemsim run.",
      '',
    ].join('\n'),
    kernel,
    steps,
    files: new Map(),
  });
}
