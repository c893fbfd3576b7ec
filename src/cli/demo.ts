export function demoCommand(_opts: { json?: boolean; verbose?: boolean }): number {
  process.stdout.write('demo: coming with the TDX model\n');
  return 0;
}
