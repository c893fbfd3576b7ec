/**
 * The habits of a command-line tool: `gmemsim completion bash|zsh|fish` (generated from the
 * commander program: every command, option and option value), `gmemsim help TOPIC`, and the exit
 * codes in `view --help`.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { ProfileNames } from '../src/core/profiles.ts';
import { gmemsim } from './support/cli.ts';

const dir = mkdtempSync(join(tmpdir(), 'gmemsim-completion-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const which = (shell: string) => ['/usr/bin', '/bin'].map((d) => join(d, shell)).find(existsSync);

function script(shell: string): string {
  const r = gmemsim('completion', shell);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  return r.out;
}

describe('gmemsim completion', () => {
  const bash = script('bash');
  const file = join(dir, 'gmemsim.bash');
  writeFileSync(file, bash);

  /** what bash completes for the words typed so far (the last one being completed) */
  function complete(...words: string[]): string[] {
    const q = words.map((w) => `'${w}'`).join(' ');
    const r = spawnSync(
      'bash',
      [
        '-c',
        `source '${file}'; COMP_WORDS=(gmemsim ${q}); COMP_CWORD=${words.length}; _gmemsim; printf '%s\\n' "\${COMPREPLY[@]}"`,
      ],
      { cwd: dir, encoding: 'utf8' },
    );
    expect(r.stderr).toBe('');
    return r.stdout.split('\n').filter(Boolean).sort();
  }

  it('bash: commands, sub-commands, options and their values, from the program', () => {
    expect(complete('')).toEqual(
      [
        'completion',
        'demo',
        'diff',
        'explore',
        'help',
        'host',
        'measure',
        'profiles',
        'rules',
        'run',
        'schema',
        'view',
      ].sort(),
    );
    expect(complete('measure', '')).toEqual(['diff', 'snp', 'tdx']);
    expect(complete('measure', 'tdx', '--o')).toEqual(['--output-format']);
    expect(complete('measure', 'tdx', '--output-format', '')).toEqual(['base64', 'hex']);
    expect(complete('run', '--profile', '')).toEqual([...ProfileNames].sort());
    expect(complete('view', '--p')).toEqual(['--port', '--profile', '--profile-file']);
    expect(complete('completion', '')).toEqual(['bash', 'fish', 'zsh']);
    expect(complete('help', 'exit')).toEqual(['exit-codes']);
  });

  it.each(['zsh', 'fish'])('%s: a script the shell reads, naming every command and option', (shell) => {
    const text = script(shell);
    for (const w of ['run', 'diff', 'measure', 'tdx', 'snp', 'view', 'firmware', 'emit-scenario', 'port', 'hex'])
      expect(text).toContain(w);
    const bin = which(shell);
    if (!bin) return; // the shell is not installed here: the text is checked, not run
    const f = join(dir, `gmemsim.${shell}`);
    writeFileSync(f, text);
    const r = spawnSync(bin, ['-n', f], { encoding: 'utf8' });
    expect(r.stderr).toBe('');
    expect(r.status).toBe(0);
    if (shell === 'fish') {
      const c = spawnSync(bin, ['-c', `source '${f}'; complete -C'gmemsim measure '`], { encoding: 'utf8' });
      expect(c.stdout.split('\n').map((l) => l.split('\t')[0])).toEqual(expect.arrayContaining(['snp', 'tdx']));
    }
  });

  it('refuses another shell with exit 2', () => {
    const r = gmemsim('completion', 'tcsh');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/Allowed choices are bash, zsh, fish/);
  });
});

describe('gmemsim help', () => {
  it('lists the topics, and prints one', () => {
    const list = gmemsim('help');
    expect(list.code).toBe(0);
    expect(list.out).toContain('Topics (gmemsim help TOPIC):');
    for (const t of ['scenario', 'profiles', 'settings', 'exit-codes', 'editor', 'view', 'json'])
      expect(list.out).toMatch(new RegExp(`\\n  ${t} +\\S`));
    const codes = gmemsim('help', 'exit-codes');
    expect(codes.code).toBe(0);
    expect(codes.out).toMatch(/^0 {2}success/m);
    expect(codes.out).toMatch(/^1 {2}the command worked but a check failed/m);
    expect(codes.out).toMatch(/^2 {2}bad input or usage/m);
    const profiles = gmemsim('help', 'profiles').out;
    for (const p of ProfileNames) expect(profiles).toContain(`  ${p} `);
    expect(gmemsim('help', 'editor').out).toContain('# yaml-language-server: $schema=');
  });

  it("prints a command's help, and for view its help then the page's keys", () => {
    expect(gmemsim('help', 'run').out).toMatch(/^Usage: gmemsim run \[options\] <files\.\.\.>/);
    const view = gmemsim('help', 'view').out;
    expect(view).toMatch(/^Usage: gmemsim view/);
    expect(view).toContain('Exit status: 0');
    expect(view).toContain('keys    ← → or j k');
  });

  it('refuses an unknown topic with exit 2', () => {
    const r = gmemsim('help', 'nope');
    expect(r.code).toBe(2);
    expect(r.err).toMatch(/'nope' is invalid/);
  });
});
