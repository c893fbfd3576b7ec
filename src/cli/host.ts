/** `gmemsim host [--json]`: the running kernel's KVM, as a host file (docs/host-format.md). */
import { hostFromFacts, nearestPreset } from '../core/host.ts';
import { profileForRelease } from '../core/profiles.ts';
import { LiveUnavailable } from '../node/live/helper.ts';
import { type HostFile, probeHost } from '../node/live/probe.ts';

const hex = (n: number) => `0x${n.toString(16)}`;

export function renderHost(h: HostFile): string {
  const f = h.facts;
  const lines: string[] = [];
  const yn = (b: boolean) => (b ? 'yes' : 'no');
  lines.push(`kernel       ${h.kernel.release} (${h.kernel.version})`);
  lines.push(`KVM API      ${h.kvm.api_version}`);
  lines.push(
    `vendor       CPU ${h.vendor.cpu} (${h.vendor.cpu_vendor_id}; virtualization flags: ${h.vendor.cpu_virt_flags.join(' ') || 'none'}); KVM vendor module ${h.vendor.kvm_modules.join(', ') || 'none'}`,
  );
  lines.push(`VM types     ${hex(h.vm_types.mask)}: ${h.vm_types.names.join(', ') || 'none'}`);
  lines.push(
    `guest_memfd  ${h.guest_memfd.supported ? 'yes' : 'no'}; KVM_CAP_GUEST_MEMFD_FLAGS ${hex(h.guest_memfd.flags_system)} on /dev/kvm${Object.entries(
      h.guest_memfd.flags_vm,
    )
      .map(([t, v]) => `, ${hex(v)} on a ${t}`)
      .join('')}`,
  );
  lines.push('host fields');
  const row = (k: keyof HostFile['facts'], v: string) =>
    lines.push(`  ${k.padEnd(24)}${v.padEnd(8)}${h.evidence[k] ?? ''}`);
  row('memory_attributes_ioctl', yn(f.memory_attributes_ioctl));
  row('sw_protected_vm', yn(f.sw_protected_vm));
  row('tdp', yn(f.tdp));
  row('pre_fault_memory', yn(f.pre_fault_memory));
  row('address_spaces', String(f.address_spaces));
  row('smm', yn(f.smm));
  row('mmap_min_addr', hex(f.mmap_min_addr));
  row('cap_sys_rawio', yn(f.cap_sys_rawio));
  row('tdx', yn(f.tdx));
  row('sev', yn(f.sev));
  row('sev_es', yn(f.sev_es));
  row('sev_snp', yn(f.sev_snp));
  lines.push('capabilities (KVM_CHECK_EXTENSION)');
  const vmTypes = Object.keys(h.caps.vm);
  lines.push(
    `  ${'cap'.padEnd(40)}${'/dev/kvm'.padEnd(12)}${vmTypes.map((t) => `${t} fd`.padEnd(24)).join('')}`.trimEnd(),
  );
  for (const [name, v] of Object.entries(h.caps.system)) {
    lines.push(
      `  ${name.padEnd(40)}${String(v).padEnd(12)}${vmTypes.map((t) => String(h.caps.vm[t]?.[name]).padEnd(24)).join('')}`.trimEnd(),
    );
  }
  lines.push('module parameters');
  for (const [m, ps] of Object.entries(h.module_params)) {
    const s = Object.entries(ps)
      .map(([k, v]) => `${k}=${v}`)
      .join(' ');
    lines.push(`  ${m.padEnd(12)}${s || '(none of interest)'}`);
  }
  // what to run the model with to answer as this kernel does
  lines.push('nearest in the model');
  const p = profileForRelease(h.kernel.release);
  lines.push(
    `  profile     ${p ? `${p.profile} (${p.exact ? `the release of ${h.kernel.release}` : `the newest release profile before ${h.kernel.release}`})` : `none: "${h.kernel.release}" names no release`}`,
  );
  const n = nearestPreset(hostFromFacts('live', h));
  lines.push(
    `  host preset ${n.preset}${n.differences.length ? `, except ${n.differences.map((d) => `${d.field} ${d.host} (preset: ${d.other})`).join(', ')}` : ' (no difference)'}`,
  );
  lines.push(`  so: --profile ${p?.profile ?? '…'} --host live (or --host FILE with this command's --json)`);
  return `${lines.join('\n')}\n`;
}

export async function hostCommand(opts: { json?: boolean }): Promise<number> {
  let h: HostFile;
  try {
    h = await probeHost();
  } catch (e) {
    if (e instanceof LiveUnavailable) {
      process.stderr.write(`gmemsim host: ${e.message}\n`);
      return 2;
    }
    throw e;
  }
  process.stdout.write(opts.json ? `${JSON.stringify(h, null, 2)}\n` : renderHost(h));
  return 0;
}
