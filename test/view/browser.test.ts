/**
 * The page in a real browser: playwright-core 1.64.1 driving Debian's Chromium (/usr/bin/chromium,
 * version 156). The example scenario stepped with the keyboard, served by `gmemsim view` and opened
 * from disk as a report; a report whose scenario strings carry markup; and a 1 TiB report, with its
 * time to first render. Screenshots go to artifacts/ (gitignored) for people to look at.
 *
 * Without /usr/bin/chromium these tests are skipped with a message, except under CI, where they fail.
 */
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, renameSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { type BrowserContext, chromium, type Locator, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { gmemsim } from '../support/cli.ts';
import { ROOT } from '../support/scenarios.ts';
import { EVIL, EVIL_SCENARIO } from './evil.ts';
import { scaleScenario } from './scale.ts';
import { TWO_SLOTS } from './two-slots.ts';

/** Debian's Chromium; GMEMSIM_CHROMIUM names another binary (to check the skip and the CI failure) */
const CHROMIUM = process.env.GMEMSIM_CHROMIUM ?? '/usr/bin/chromium';
const HAVE = existsSync(CHROMIUM);
const IN_CI = Boolean(process.env.CI);
const ARTIFACTS = join(ROOT, 'artifacts');
const EXAMPLE = 'test/scenarios/examples/scenario-format-example.yaml';

if (!HAVE && !IN_CI)
  console.warn(
    `\nbrowser tests skipped: ${CHROMIUM} is missing (apt-get install -y chromium). Under CI they fail instead.\n`,
  );

/** the CLI, which must succeed */
function cli(...args: string[]): string {
  const r = gmemsim(...args);
  if (r.code !== 0) throw new Error(`gmemsim ${args.join(' ')} exited ${r.code}: ${r.err}`);
  return r.out;
}

/** `gmemsim view FILE --port 0` in the background; resolves to the printed URL */
function serve(file: string): Promise<{ child: ChildProcess; url: string }> {
  const child = spawn(
    process.execPath,
    ['--import', 'tsx', join(ROOT, 'src/cli/main.ts'), 'view', file, '--port', '0'],
    {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  return new Promise((resolve, reject) => {
    let out = '';
    let err = '';
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString();
      const m = /at (http:\/\/127\.0\.0\.1:\d+\/) /.exec(out);
      if (m) resolve({ child, url: m[1]! });
    });
    child.stderr!.on('data', (d: Buffer) => {
      err += d.toString();
    });
    child.on('exit', (code) => reject(new Error(`gmemsim view exited ${code}: ${err}`)));
  });
}

const detail = '[data-testid="step-detail"]';
const item = (space: string, start: number) => `[data-space="${space}"] [data-item][data-start="${start}"]`;

async function ready(page: Page): Promise<void> {
  await page.waitForSelector('html[data-ready="1"]');
}

/** an attribute of every element a locator finds */
async function attrs(l: Locator, name: string): Promise<(string | null)[]> {
  return Promise.all((await l.all()).map((e) => e.getAttribute(name)));
}

async function stepNo(page: Page): Promise<number> {
  return Number(await page.getAttribute(detail, 'data-step'));
}

async function stateOf(page: Page, space: string, start: number): Promise<string | null> {
  return page.getAttribute(item(space, start), 'data-state');
}

/** wait (no time limit) until the element's attribute has this value */
async function untilAttribute(page: Page, selector: string, name: string, value: string): Promise<void> {
  await page.waitForFunction(
    `document.querySelector(${JSON.stringify(selector)})?.getAttribute(${JSON.stringify(name)}) === ${JSON.stringify(value)}`,
    undefined,
    { timeout: 0 },
  );
}

/** press keys and wait until the selected step is `expected` */
async function press(page: Page, keys: string[], expected: number): Promise<void> {
  for (const k of keys) await page.keyboard.press(k);
  // (page functions are written as strings: this file is typechecked without the DOM library)
  await page.waitForFunction(
    `document.querySelector('[data-testid="step-detail"]')?.getAttribute('data-step') === '${expected}'`,
    undefined,
    { timeout: 0 },
  );
}

/** the three states of the brief and the double add's rule and citation, driven by the keyboard */
async function walkExample(page: Page): Promise<void> {
  await press(page, ['Home'], 1);
  expect(await page.getAttribute(`[data-space="file:0"]`, 'data-exists')).toBe('0'); // not created yet

  // step 10, the store through the mapping: a shared page with a folio, mapped into the host
  await press(page, ['ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'ArrowRight', 'j', 'j', 'j', 'j'], 10);
  expect(await stateOf(page, 'file:0', 1)).toBe('shared allocated host-mapped');
  expect(await page.getAttribute(item('file:0', 1), 'aria-label')).toBe(
    '0x1000–0x2000 (4 KiB): shared allocated host-mapped; changed by this step',
  );
  expect(await stateOf(page, 'file:0', 0)).toBe('shared');
  expect(await page.getAttribute('[data-step="10"][role="option"]', 'aria-selected')).toBe('true');

  // step 11, KVM_SET_MEMORY_ATTRIBUTES2 to PRIVATE: private, and no longer host-mapped
  await press(page, ['j'], 11);
  expect(await stateOf(page, 'file:0', 1)).toBe('private allocated');
  expect(await page.getAttribute(item('file:0', 1), 'data-changed')).toBe('1');
  expect(await stateOf(page, 'gpa:0', 1)).toBe('in-memslot private');

  // step 13, KVM_TDX_INIT_MEM_REGION with MEASURE: populated and measured, and the MRTD moved
  await press(page, ['ArrowRight', 'ArrowRight'], 13);
  expect(await stateOf(page, 'file:0', 1)).toBe('private allocated populated measured accepted');
  expect(await stateOf(page, 'gpa:0', 1)).toBe('in-memslot private populated measured accepted');
  const mrtd = page.locator('[data-launch-vm="0"] [data-key="mrtd"]');
  await untilAttribute(page, '[data-launch-vm="0"] [data-key="mrtd"]', 'class', 'kv changed');
  expect(await mrtd.locator('dd').textContent()).toMatch(/^426406e35870475784c53fc0a8a21b09/);
  expect(await page.locator('[data-launch-vm="0"] [data-key="pageAdds"] dd').textContent()).toMatch(/^1\b/);

  // step 14, the double add: the -EIO the step expected, with its rule and its citation as a link
  await press(page, ['ArrowRight'], 14);
  expect(await page.getAttribute(detail, 'data-status')).toBe('expected');
  expect(await page.locator(`${detail} .badge`).textContent()).toBe('expected EIO');
  expect(await page.locator(`${detail} [data-testid="rule"] [data-rule-id]`).textContent()).toBe('tdx.imr.doubleAdd');
  expect(await page.locator(`${detail} [data-testid="rule"] [data-cite]`).textContent()).toBe(
    'kernelorg-mirror/linux_kernel_git_sashal_linux-next:arch/x86/kvm/mmu/mmu.c@f19943d4e1cc kvm_tdp_mmu_map_private_pfn()',
  );
  expect(await page.getAttribute(`${detail} [data-testid="rule"] a[data-cite]`, 'href')).toMatch(
    /^https:\/\/github\.com\/kernelorg-mirror\/linux_kernel_git_sashal_linux-next\/blob\/f19943d4e1cc\/arch\/x86\/kvm\/mmu\/mmu\.c(#L\d+)?$/,
  );
  // the result in the words of `gmemsim run`
  expect(await page.locator(`${detail} [data-testid="result"]`).textContent()).toBe(
    '= -1 EIO  data={source_addr=0, gpa=0x1000, nr_pages=1}',
  );
  expect(await page.getAttribute('[data-step="14"][role="option"]', 'data-status')).toBe('expected');
  // expected results are not problems
  expect(await page.locator('[data-testid="problems"]').textContent()).toBe('0 problem steps · 2 expected errors');
  expect(await stateOf(page, 'file:0', 1)).toBe('private allocated populated measured accepted');
  expect(await page.getAttribute(item('file:0', 1), 'data-changed')).toBe('0');

  // back and forth: k, End, Home; n and p jump between the steps with an errno or signal (SIGBUS at 12, EIO at 14)
  await press(page, ['k'], 13);
  await press(page, ['End'], 16);
  expect(await page.locator(`${detail} [data-testid="result"]`).textContent()).toContain('mrtd=426406e3');
  await press(page, ['Home'], 1);
  await press(page, ['n'], 12);
  expect(await page.getAttribute(detail, 'data-status')).toBe('expected');
  await press(page, ['n'], 14);
  await press(page, ['p'], 12);
  await press(page, ['ArrowLeft'], 11);
}

describe.runIf(!HAVE && IN_CI)('Chromium under CI', () => {
  it(`is installed at ${CHROMIUM}`, () => {
    expect(HAVE, `${CHROMIUM} is missing: .ci/run installs it (apt-get install -y chromium)`).toBe(true);
  });
});

describe.runIf(HAVE)('the page in Chromium', () => {
  let ctx: BrowserContext;
  let profile: string;

  beforeAll(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    profile = mkdtempSync(join(tmpdir(), 'gmemsim-chromium-'));
    ctx = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      viewport: { width: 1400, height: 1000 },
      args: [
        '--no-sandbox',
        '--disable-gpu',
        '--disable-background-networking',
        '--disable-component-update',
        '--disable-sync',
        '--no-first-run',
      ],
      timeout: 0,
    });
    // no action or wait races a clock: on a saturated machine everything is slower, not wrong
    // (vitest's testTimeout is the only hang guard)
    ctx.setDefaultTimeout(0);
  });

  afterAll(async () => {
    await ctx?.close();
    if (profile) rmSync(profile, { recursive: true, force: true });
  });

  /** a new page that records page errors, CSP violations and every request */
  async function open(url: string): Promise<{ page: Page; problems: string[]; requests: string[] }> {
    const page = await ctx.newPage();
    const problems: string[] = [];
    const requests: string[] = [];
    page.on('pageerror', (e) => problems.push(`pageerror: ${e.message}`));
    page.on('console', (m) => {
      if (m.type() === 'error' && !/favicon/.test(m.text())) problems.push(`console: ${m.text()}`);
    });
    page.on('dialog', (d) => {
      problems.push(`dialog: ${d.message()}`);
      void d.dismiss();
    });
    page.on('request', (r) => requests.push(r.url()));
    await page.goto(url);
    await ready(page);
    return { page, problems, requests };
  }

  it('steps through the served example with the keyboard: states, the failing step, its rule', async () => {
    const { child, url } = await serve(EXAMPLE);
    try {
      const { page, problems, requests } = await open(url);
      expect(await page.locator('h1').textContent()).toBe('in-place add of a measured TDX page, then a double add');
      await walkExample(page);
      await press(page, ['ArrowRight', 'ArrowRight'], 13); // and the selection is reflected in the address
      expect(new URL(page.url()).hash).toBe('#step=13');
      await press(page, ['ArrowRight'], 14);
      // the step's own lines of the scenario, on demand
      const src = page.locator(`${detail} [data-testid="source"]`);
      expect(await src.locator('summary').textContent()).toBe("the scenario's lines 46–51");
      expect(await src.locator('.src-line').first().textContent()).toBe('46  - KVM_MEMORY_ENCRYPT_OP:\n');
      await page.screenshot({ path: join(ARTIFACTS, 'view-example-step14.png') });
      expect(problems).toEqual([]);
      expect(requests.map((r) => new URL(r).pathname).sort()).toEqual([
        '/',
        '/app.css',
        '/app.js',
        '/events',
        '/run.json',
        '/source.json',
      ]);
      await page.close();
    } finally {
      child.kill('SIGTERM');
    }
  });

  it('opens the report from disk (file://): the same page, nothing fetched', async () => {
    const out = join(ARTIFACTS, 'view-example.html');
    cli('view', EXAMPLE, '--out', out);
    const url = pathToFileURL(out).href;
    const { page, problems, requests } = await open(`${url}#step=10`);
    expect(await stepNo(page)).toBe(10); // deep link
    expect(await stateOf(page, 'file:0', 1)).toBe('shared allocated host-mapped');
    await walkExample(page);
    await press(page, ['End'], 16);
    await page.screenshot({ path: join(ARTIFACTS, 'view-example-report.png'), fullPage: true });
    expect(problems).toEqual([]);
    expect(requests.every((r) => r.startsWith(url))).toBe(true);
    await page.close();
  });

  it("outlines the GPA range of a step's exit: the conversion request, the private fault", async () => {
    const out = join(ARTIFACTS, 'view-td-conversion-loop.html');
    cli('view', 'test/scenarios/runtime/td-conversion-loop.in-place.yaml', '--out', out);
    const { page, problems } = await open(`${pathToFileURL(out).href}#step=19`); // guest_map_gpa(0x1000, shared)
    const mark = page.locator('[data-space="gpa:0"] [data-testid="exit-mark"]');
    expect(await mark.count()).toBe(1);
    expect([await mark.getAttribute('data-start'), await mark.getAttribute('data-end')]).toEqual(['1', '2']);
    expect(await mark.locator('text').textContent()).toBe('conversion request');
    await press(page, ['ArrowRight', 'ArrowRight', 'ArrowRight'], 22); // the private access to the shared page
    expect(await mark.locator('text').textContent()).toBe('private fault');
    await page.screenshot({ path: join(ARTIFACTS, 'view-td-conversion-loop-step22.png') });
    await press(page, ['ArrowRight'], 23); // an access that completed: no exit
    expect(await mark.count()).toBe(0);
    expect(await page.locator('[data-space^="file:"] [data-testid="exit-mark"]').count()).toBe(0);
    expect(problems).toEqual([]);
    await page.close();
  });

  it('shows scenario strings with markup as text: no element made from them, nothing run', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gmemsim-evil-'));
    const file = join(dir, 'evil.yaml');
    writeFileSync(file, EVIL_SCENARIO);
    const out = join(dir, 'evil.html');
    cli('view', file, '--out', out);
    const { page, problems } = await open(`${pathToFileURL(out).href}#step=1`); // the step with the note
    expect(await page.locator('h1').textContent()).toContain(EVIL);
    expect(await page.locator('.note').textContent()).toBe(`note: ${EVIL}<script>alert(2)</script>`);
    expect(await page.locator('img').count()).toBe(0);
    expect(await page.locator('script').count()).toBe(3);
    expect(problems).toEqual([]);
    await page.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('renders a 1 TiB guest_memfd with 2,000 scattered conversions: time to first render, zoom, stepping', async () => {
    const yaml = join(ARTIFACTS, 'scale-1tib.yaml');
    writeFileSync(yaml, scaleScenario());
    const out = join(ARTIFACTS, 'scale-1tib.html');
    const t0 = performance.now();
    cli('view', yaml, '--out', out);
    const build = performance.now() - t0;
    const page = await ctx.newPage();
    const problems: string[] = [];
    page.on('pageerror', (e) => problems.push(e.message));
    const w0 = performance.now();
    await page.goto(pathToFileURL(out).href);
    await ready(page);
    const wall = performance.now() - w0;
    const first = (await page.evaluate('window.gmemsimFirstRender')) as { dom: number; frame?: number } | undefined;
    const steps = Number(await page.locator('[role="option"]').first().getAttribute('aria-setsize'));
    console.log(
      `\nview of a 1 TiB guest_memfd, ${steps} steps (report ${Math.round(statSync(out).size / 1024)} KiB, written in ${Math.round(build)} ms):\n` +
        `  time to first render ${first?.dom.toFixed(0)} ms after navigation start (DOM), first frame ${first?.frame?.toFixed(0)} ms; ` +
        `${wall.toFixed(0)} ms from goto to ready\n`,
    );
    // measured and printed, not asserted: a bound on time fails on a loaded machine (issue 16 item 6)
    expect(first?.dom).toBeGreaterThan(0);
    // at the first step the guest_memfd does not exist yet; at the end it holds thousands of ranges
    await press(page, ['Home'], 1);
    const band = page.locator('[data-space="file:0"]');
    expect(await band.getAttribute('data-exists')).toBe('0');
    await press(page, ['End'], steps);
    expect(await band.getAttribute('data-scale')).toBe('collapsed');
    expect(await band.locator('[data-item]').count()).toBeLessThanOrEqual(400);
    const summary = (await band.locator('.ranges summary').textContent()) ?? '';
    expect(Number(/\((\d+)/.exec(summary)?.[1])).toBeGreaterThan(2000);

    // stepping stays quick: 40 steps back from the end
    const s0 = performance.now();
    for (let i = 0; i < 40; i++) await press(page, ['ArrowLeft'], steps - 1 - i);
    const perStep = (performance.now() - s0) / 40;
    console.log(`  stepping: ${perStep.toFixed(1)} ms per key press (render and wait), 1 TiB report\n`);

    // zoom into one mark: its ranges are drawn one by one, to scale or collapsed
    const mark = band.locator('[data-item]').nth(40);
    const [start, end] = [Number(await mark.getAttribute('data-start')), Number(await mark.getAttribute('data-end'))];
    await mark.click();
    await band.getByRole('button', { name: 'zoom to selection' }).click();
    await untilAttribute(page, '[data-space="file:0"]', 'data-window', `${start}-${end}`);
    const inside = band.locator('[data-item]');
    expect(await inside.count()).toBeGreaterThan(1);
    expect(await inside.first().getAttribute('data-state')).not.toMatch(/^mixed/);
    await page.screenshot({ path: join(ARTIFACTS, 'view-1tib-zoomed.png') });
    await band.getByRole('button', { name: 'whole range' }).click();
    await untilAttribute(page, '[data-space="file:0"]', 'data-window', `0-${2 ** 28}`);
    await page.screenshot({ path: join(ARTIFACTS, 'view-1tib.png') });
    expect(problems).toEqual([]);
    await page.close();
  });

  it('follows the served file: an edit shows the new run, a broken file its FILE:LINE:COL error, a fix the run again', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gmemsim-live-'));
    const file = join(dir, 'live.yaml');
    const text = readFileSync(join(ROOT, EXAMPLE), 'utf8');
    writeFileSync(file, text);
    const { child, url } = await serve(file);
    try {
      const { page, problems } = await open(`${url}#step=13`);
      expect(await page.locator('[data-testid="live"]').count()).toBe(1);
      // (polled from here: the served page's CSP forbids the string evaluation of waitForFunction)
      const h1 = (want: string) => expect.poll(() => page.locator('h1').textContent(), { timeout: 20_000 }).toBe(want);
      // an edit in place: the page shows the new run, on the step it was on
      writeFileSync(file, text.replace(/^name: .*$/m, 'name: edited while the page was open'));
      await h1('edited while the page was open');
      expect(await stepNo(page)).toBe(13);
      // a file that no longer loads: its error, FILE:LINE:COL, over the last run that did
      writeFileSync(file, text.replace('KVM_CREATE_VM: { type: KVM_X86_TDX_VM }', 'KVM_CREATE_VM: { tpye: 5 }'));
      const err = page.locator('[data-testid="live-error"]');
      await err.waitFor();
      expect(await err.locator('pre').textContent()).toMatch(/live\.yaml:\d+:\d+: .*unknown argument "tpye"/);
      expect(await page.locator('h1').textContent()).toBe('edited while the page was open');
      await page.screenshot({ path: join(ARTIFACTS, 'view-live-error.png') });
      // fixed, written as editors do (a new file renamed over the old one): the error goes, the run is back
      writeFileSync(join(dir, 'tmp'), text.replace(/^name: .*$/m, 'name: fixed'));
      renameSync(join(dir, 'tmp'), file);
      await h1('fixed');
      await err.waitFor({ state: 'detached' });
      expect(problems).toEqual([]);
      await page.close();
    } finally {
      child.kill('SIGTERM');
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('searches the steps, labels memslots and sections, and links a GPA to its guest_memfd offset', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'gmemsim-map-'));
    const file = join(dir, 'two-slots.yaml');
    writeFileSync(file, TWO_SLOTS);
    const out = join(ARTIFACTS, 'view-two-slots.html');
    cli('view', file, '--out', out);
    const { page, problems } = await open(pathToFileURL(out).href);
    // opens on the last step that changed the map, not on step 1 with an empty map
    expect(await stepNo(page)).toBe(6);

    // the GPA band opens on its memslots (1 MiB to 4 GiB), labelled, with the section a step named
    const gpa = page.locator('[data-space="gpa:0"]');
    expect(await gpa.getAttribute('data-window')).toBe(`${0x100}-${0xffff0}`);
    expect(await attrs(gpa.locator('[data-labels="memslot"] [data-label]'), 'data-label')).toEqual([
      'slot 0 → gmem 0',
      'slot 1 → gmem 1',
    ]);
    expect(await gpa.locator('[data-labels="section"] [data-label="BFV"]').getAttribute('data-start')).toBe(
      String(0x100),
    );
    expect(await gpa.locator('text.tick').first().textContent()).toBe('1 MiB');

    // hover a GPA of memslot 1: the page shows its guest_memfd offset, and marks it in that band
    const box = (await gpa.locator(`[data-item][data-start="${0xfffc0}"]`).boundingBox())!;
    await page.mouse.move(box.x + box.width / 2, box.y + box.height / 2);
    const link = page.locator('[data-testid="hover-link"]');
    await expect.poll(() => link.getAttribute('data-key')).toBe('gpa:0');
    const gfn = Number(await link.getAttribute('data-page'));
    expect(gfn).toBeGreaterThan(0xfffc0);
    expect(gfn).toBeLessThan(0xffff0);
    const off = gfn - 0xfffc0 + 0x10;
    expect(await link.textContent()).toBe(
      `GPA (VM 0) 0x${(gfn * 4096).toString(16)} ↔ guest_memfd 1 offset 0x${(off * 4096).toString(16)} (memslot 1)`,
    );
    expect(await page.locator(`[data-space="file:1"] .hover-mark`).getAttribute('data-page')).toBe(String(off));
    await page.screenshot({ path: join(ARTIFACTS, 'view-two-slots-hover.png') });
    // and the other way: an offset of guest_memfd 0 shows its GPA
    const fbox = (await page.locator('[data-space="file:0"] [data-item]').first().boundingBox())!;
    await page.mouse.move(fbox.x + 1, fbox.y + fbox.height / 2);
    await expect.poll(() => link.textContent()).toBe('guest_memfd 0 offset 0x0 ↔ GPA (VM 0) 0x100000 (memslot 0)');
    expect(await gpa.locator('.hover-mark').getAttribute('data-page')).toBe(String(0x100));

    // the search: by op, by errno, by GPA; the keys move among the matches; Escape clears it
    const search = page.locator('[data-testid="search"]');
    const rows = page.locator('[role="option"]');
    await page.keyboard.press('/');
    await page.keyboard.type('op:KVM_SET_USER_MEMORY_REGION2');
    await expect.poll(() => rows.count()).toBe(2);
    expect(await page.locator('[data-testid="matches"]').textContent()).toBe('2 of 6 steps match');
    await page.keyboard.press('Enter');
    await press(page, ['Home'], 4);
    await press(page, ['j'], 5);
    await search.fill('gpa:0xfffd0000');
    await expect.poll(() => attrs(rows, 'data-step')).toEqual(['5']);
    await search.fill('errno:EIO');
    await expect.poll(() => rows.count()).toBe(0);
    expect(await page.locator('.steps .none').textContent()).toBe('No step matches the search.');
    await search.press('Escape');
    await expect.poll(() => rows.count()).toBe(6);
    expect(problems).toEqual([]);
    await page.close();
    rmSync(dir, { recursive: true, force: true });
  });
});
