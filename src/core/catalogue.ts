/** The rule catalogue: every rule of every module, by id. */
import { R as gmemAttr2 } from './guest_memfd/attributes2.ts';
import { R as gmemBind } from './guest_memfd/bind.ts';
import { R as gmemCreate } from './guest_memfd/create.ts';
import { R as gmemFops } from './guest_memfd/fops.ts';
import { R as gmemPopulate } from './guest_memfd/populate.ts';
import { R as vmAttr } from './kvm/attributes.ts';
import { R as dispatch } from './kvm/dispatch.ts';
import { R as memslot } from './kvm/memslot.ts';
import { R as run } from './kvm/run.ts';
import { R as vm } from './kvm/vm.ts';
import { R as mm } from './mm/syscalls.ts';
import type { Rule } from './rule.ts';
import { snpRuleSets } from './snp/arch.ts';
import { tdxRuleSets } from './tdx/arch.ts';

const sets: Record<string, Rule>[] = [
  vm,
  run,
  memslot,
  vmAttr,
  gmemCreate,
  gmemFops,
  gmemBind,
  gmemAttr2,
  gmemPopulate,
  mm,
  dispatch,
  ...snpRuleSets,
  ...tdxRuleSets,
];

export function allRules(): Rule[] {
  const out: Rule[] = [];
  const seen = new Set<string>();
  for (const s of sets) {
    for (const r of Object.values(s)) {
      if (seen.has(r.id)) throw new Error(`Model invariant violated: duplicate rule id ${r.id}`);
      seen.add(r.id);
      out.push(r);
    }
  }
  return out;
}

export function ruleById(id: string): Rule | undefined {
  return allRules().find((r) => r.id === id);
}
