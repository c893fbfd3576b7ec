import { allRules } from '../core/catalogue.ts';
import { OpNames, type SubCmdDecl, SubCmdDecls } from '../core/decl.ts';
import { type Profile, Profiles } from '../core/profiles.ts';
import { citeUrl, formatCite, formatLines, formatScope, type Rule, ruleApplies } from '../core/rule.ts';
import { rulesMarkdown } from '../docs/uapi.ts';
import { chooseKernel, parseProfile, UsageError } from './common.ts';

export function selectRules(opts: { ioctl?: string; profile?: string }, chosen?: Profile): Rule[] {
  const profile = chosen ? undefined : parseProfile('--profile', opts.profile);
  let rules = allRules();
  if (opts.ioctl) {
    const want = opts.ioctl;
    rules = rules.filter((r) => rulesOf(want, r));
    if (!rules.length)
      throw new UsageError(
        `--ioctl ${want}: no rules for this operation (operations: ${[...OpNames, ...Object.keys(SubCmdDecls)].join(', ')})`,
      );
  }
  const p = chosen ?? (profile ? Profiles[profile] : undefined);
  if (p) rules = rules.filter((r) => ruleApplies(r, p));
  return rules;
}

export async function rulesCommand(opts: {
  ioctl?: string;
  profile?: string;
  profileFile?: string;
  json?: boolean;
  markdown?: boolean;
}): Promise<number> {
  const chosen = opts.profileFile !== undefined ? (await chooseKernel(opts)).profile : undefined;
  const rules = selectRules(opts, chosen);
  if (opts.json) {
    const withUrls = rules.map((r) => ({ ...r, cite: { ...r.cite, url: citeUrl(r.cite) } }));
    process.stdout.write(`${JSON.stringify({ format: 'gmemsim-rules/1', rules: withUrls }, null, 2)}\n`);
    return 0;
  }
  if (opts.markdown) {
    process.stdout.write(rulesMarkdown(rules));
    return 0;
  }
  const byOp = new Map<string, Rule[]>();
  for (const r of rules) byOp.set(r.op, [...(byOp.get(r.op) ?? []), r]);
  for (const [op, group] of byOp) {
    process.stdout.write(`\n${op}\n`);
    for (const r of group) {
      const res = r.errno ? `-${r.errno}` : r.signal ? r.signal : 'ok';
      const conf = r.confidence === 'read' ? '' : ` [${r.confidence}]`;
      const eras = formatScope(r);
      process.stdout.write(`  ${r.id.padEnd(36)} ${res.padEnd(12)} ${r.reason}${conf}${eras}\n`);
      process.stdout.write(`  ${''.padEnd(36)} ${''.padEnd(12)} ${formatCite(r.cite)}\n`);
      if (r.cite.lines) process.stdout.write(`  ${''.padEnd(36)} ${''.padEnd(12)} ${formatLines(r.cite)}\n`);
      process.stdout.write(`  ${''.padEnd(36)} ${''.padEnd(12)} ${citeUrl(r.cite)}\n`);
    }
  }
  return 0;
}

/**
 * Whether a rule decides an outcome of this operation: an op (all its sub-commands too, for
 * KVM_MEMORY_ENCRYPT_OP) or a sub-command (its own rules, and its dispatcher's checks, which come
 * first), as the declaration says (core/decl.ts SubCmdDecls).
 */
function rulesOf(want: string, r: Rule): boolean {
  if (r.op === want || r.id.startsWith(`${want}.`) || r.op.includes(want)) return true;
  const sub = (SubCmdDecls as Record<string, SubCmdDecl>)[want];
  if (sub) {
    if (r.op !== sub.dispatch) return false;
    const own = (d: SubCmdDecl) => (d.rules ?? []).some((p) => r.id.startsWith(p));
    // the sub-command's own rules, or a dispatcher check that belongs to no sub-command
    return own(sub) || !Object.values(SubCmdDecls).some((d) => d.dispatch === r.op && own(d as SubCmdDecl));
  }
  // KVM_MEMORY_ENCRYPT_OP: every sub-command's rules
  return want === 'KVM_MEMORY_ENCRYPT_OP' && r.op in SubCmdDecls;
}
