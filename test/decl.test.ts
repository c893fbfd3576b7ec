/** The one declaration (core/decl.ts) is what the rest reads. */
import { describe, expect, it } from 'vitest';
import { selectRules } from '../src/cli/rules.ts';
import { allRules } from '../src/core/catalogue.ts';
import { OpDecls, OpNames, SubCmdDecls } from '../src/core/decl.ts';
import { scenarioJsonSchema } from '../src/scenario/jsonschema.ts';

describe('the declaration drives', () => {
  it('rules --ioctl by sub-command name: the sub-command’s rules and its dispatcher’s checks, not its siblings’', () => {
    const ids = selectRules({ ioctl: 'KVM_TDX_INIT_VM' }).map((r) => r.id);
    expect(ids).toContain('tdx.vm.initGpaw');
    expect(ids).toContain('tdx.vm.hwError');
    expect(ids).not.toContain('tdx.vm.finalized');
    expect(ids).not.toContain('tdx.vm.capabilities');
    const imr = selectRules({ ioctl: 'KVM_TDX_INIT_MEM_REGION' }).map((r) => r.id);
    expect(imr).toContain('tdx.imr.added');
    expect(imr).toContain('tdx.vcpu.notReady');
    expect(imr).not.toContain('tdx.vcpu.getCpuid');
  });

  it('every rule of a sub-command dispatch group belongs to one sub-command or is a dispatcher check', () => {
    for (const r of allRules()) {
      const owners = Object.entries(SubCmdDecls).filter(
        ([, d]) => d.dispatch === r.op && ((d as { rules?: string[] }).rules ?? []).some((p) => r.id.startsWith(p)),
      );
      expect(owners.length, r.id).toBeLessThanOrEqual(1);
    }
  });

  it('the JSON Schema describes every operation, field and sub-command struct', () => {
    const js = JSON.stringify(scenarioJsonSchema());
    for (const op of OpNames) {
      expect(js).toContain(JSON.stringify(OpDecls[op].doc));
      for (const f of Object.values(OpDecls[op].fields)) expect(js).toContain(JSON.stringify(f.doc));
    }
    for (const d of Object.values(SubCmdDecls))
      if ('struct' in d) for (const f of Object.values(d.struct.fields)) expect(js).toContain(JSON.stringify(f.doc));
  });
});
