/**
 * Breadth-first search over canonical states: every short sequence of actions from the set-up VM,
 * each state once, the invariants checked after every step. BFS makes every counterexample a
 * shortest one. The expansion of a frontier slice is a pure function, so worker threads can do it.
 */

import { checkInvariants, type Violation } from '../core/invariants.ts';
import type { Kernel } from '../core/kernel.ts';
import { canonical } from './canonical.ts';
import type { Action, Handles } from './model.ts';

export interface Child {
  /** index of the parent in the expanded slice */
  parent: number;
  action: number;
  sig: string;
  violations: Violation[];
}

/** A 64-bit fingerprint of a canonical state (two FNV-1a passes); collisions are negligible at explorer sizes. */
export function fingerprint(s: string): string {
  let a = 0x811c9dc5;
  let b = 0x01000193 ^ s.length;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    a = Math.imul(a ^ c, 0x01000193);
    b = Math.imul(b ^ c, 0x5bd1e995) ^ (b >>> 13);
  }
  return (a >>> 0).toString(16).padStart(8, '0') + (b >>> 0).toString(16).padStart(8, '0');
}

/** Expand states: for each (kernel) parent, apply each action to a clone. */
export function expand(parents: Kernel[], actions: Action[], h: Handles): Child[] {
  const out: Child[] = [];
  parents.forEach((parent, pi) => {
    actions.forEach((a, ai) => {
      const k = parent.clone();
      k.step(a.op(h));
      const violations = checkInvariants(k);
      out.push({ parent: pi, action: ai, sig: fingerprint(canonical(k)), violations });
    });
  });
  return out;
}

export interface Counterexample {
  invariant: string;
  detail: string;
  /** action indices from the set-up state */
  path: number[];
}

export interface SearchResult {
  kind: 'complete' | 'limit-reached';
  states: number;
  transitions: number;
  depth: number;
  violations: Counterexample[];
}

export interface SearchOptions {
  depth: number;
  maxStates: number;
  /** expand a batch of states given by their paths (replayed from the set-up state) */
  expandPaths(paths: number[][]): Promise<Child[]> | Child[];
  onProgress?(p: { depth: number; states: number; frontier: number; done: number }): void;
}

/** One counterexample per invariant, the first (shortest) found. */
export async function search(o: SearchOptions, rootSig: string): Promise<SearchResult> {
  const seen = new Set<string>([rootSig]);
  let frontier: number[][] = [[]];
  const found = new Map<string, Counterexample>();
  let transitions = 0;
  let depth = 0;
  const BATCH = 2048;
  for (; depth < o.depth && frontier.length > 0; depth++) {
    const next: number[][] = [];
    for (let b = 0; b < frontier.length; b += BATCH) {
      const slice = frontier.slice(b, b + BATCH);
      const children = await o.expandPaths(slice);
      for (const c of children) {
        transitions++;
        const path = [...slice[c.parent]!, c.action];
        for (const v of c.violations)
          if (!found.has(v.invariant)) found.set(v.invariant, { invariant: v.invariant, detail: v.detail, path });
        if (c.violations.length) continue; // do not explore beyond a broken state
        if (seen.has(c.sig)) continue;
        seen.add(c.sig);
        next.push(path);
        if (seen.size >= o.maxStates) {
          return {
            kind: 'limit-reached',
            states: seen.size,
            transitions,
            depth: depth + 1,
            violations: [...found.values()],
          };
        }
      }
      o.onProgress?.({
        depth: depth + 1,
        states: seen.size,
        frontier: frontier.length,
        done: Math.min(b + BATCH, frontier.length),
      });
    }
    frontier = next;
  }
  return { kind: 'complete', states: seen.size, transitions, depth, violations: [...found.values()] };
}
