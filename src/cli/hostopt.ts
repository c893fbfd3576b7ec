/** `--host PRESET|FILE|live`: the model's host configuration (core/host.ts). */
import { readFileSync } from 'node:fs';
import { type HostConfig, HostPresetNames, HostPresets, hostFromFacts, isHostPreset } from '../core/host.ts';
import { fsReason, UsageError } from './errors.ts';

export async function resolveHost(spec: string | undefined): Promise<HostConfig | undefined> {
  if (spec === undefined) return undefined;
  if (isHostPreset(spec)) return HostPresets[spec];
  if (spec === 'live') {
    const { probeHost } = await import('../node/live/probe.ts');
    const { LiveUnavailable } = await import('../node/live/helper.ts');
    try {
      const h = await probeHost();
      return hostFromFacts(`live ${h.kernel.release}`, h);
    } catch (e) {
      if (e instanceof LiveUnavailable) throw new UsageError(`--host live: ${e.message}`);
      throw e;
    }
  }
  let text: string;
  try {
    text = readFileSync(spec, 'utf8');
  } catch (e) {
    throw new UsageError(
      `--host ${spec}: not a preset (${HostPresetNames.join(', ')}, live) and cannot read it (${fsReason(e)})`,
    );
  }
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (e) {
    throw new UsageError(`--host ${spec}: not JSON (${(e as Error).message})`);
  }
  const d = doc as Record<string, unknown> | null;
  const facts = d?.facts as Record<string, unknown> | undefined;
  const vendor = d?.vendor as Record<string, unknown> | undefined;
  const vmTypes = d?.vm_types as Record<string, unknown> | undefined;
  if (
    d?.format !== 'gmemsim-host/1' ||
    !facts ||
    !vendor ||
    !vmTypes ||
    typeof vmTypes.mask !== 'number' ||
    !Array.isArray(vendor.kvm_modules) ||
    typeof facts.memory_attributes_ioctl !== 'boolean' ||
    typeof facts.tdp !== 'boolean' ||
    typeof facts.address_spaces !== 'number' ||
    typeof facts.cap_sys_rawio !== 'boolean'
  )
    throw new UsageError(
      `--host ${spec}: not a gmemsim-host/1 file with vendor, vm_types and facts (docs/host-format.md)`,
    );
  return hostFromFacts(spec, d as never);
}
