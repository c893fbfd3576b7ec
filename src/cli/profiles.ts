/** `gmemsim profiles`: the kernels the model follows, newest first, with the tree each one reads. */
import {
  aliasesOf,
  canonicalName,
  DEFAULT_PROFILE,
  KernelNames,
  Kernels,
  type Profile,
  ProfileAliases,
} from '../core/profiles.ts';

export function profileJson(p: Profile): Record<string, unknown> {
  const { name, era, summary, source, ...fields } = p;
  return { name, aliases: aliasesOf(name), era, summary, ...source, fields };
}

export function profilesCommand(opts: { json?: boolean }): number {
  const list = KernelNames.map((n) => Kernels[n]);
  if (opts.json) {
    process.stdout.write(
      `${JSON.stringify({ format: 'gmemsim-profiles/1', default: DEFAULT_PROFILE, aliases: ProfileAliases, profiles: list.map(profileJson) }, null, 2)}\n`,
    );
    return 0;
  }
  for (const p of list) {
    const alias = aliasesOf(p.name);
    const dflt = p.name === canonicalName(DEFAULT_PROFILE) ? ' (default)' : '';
    const date = `${p.source.date}${p.source.dateNote ? ` (${p.source.dateNote})` : ''}`;
    process.stdout.write(`${p.name}${alias.length ? ` = ${alias.join(', ')}` : ''}${dflt}  era ${p.era}  ${date}\n`);
    process.stdout.write(`  tree     ${p.source.tree}${p.source.tag ? ` @${p.source.tag}` : ''}\n`);
    process.stdout.write(`  follows  ${p.source.followed}\n`);
    if (p.source.commits.length) process.stdout.write(`  commits  ${p.source.commits.join(' ')}\n`);
    process.stdout.write(`  change   ${p.source.diff}\n`);
  }
  return 0;
}
