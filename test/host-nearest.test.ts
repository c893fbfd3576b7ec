/** `gmemsim host`'s last section: the release profile of a kernel and the nearest host preset. */
import { describe, expect, it } from 'vitest';
import { HostPresets, hostDifferences, nearestPreset } from '../src/core/host.ts';
import { profileForRelease } from '../src/core/profiles.ts';
import { VmType } from '../src/core/uapi.ts';

describe('profileForRelease', () => {
  it('names the profile of the major.minor, else the newest release profile before it', () => {
    expect(profileForRelease('6.18.44-fc-v1147')).toEqual({ profile: 'v6.18', exact: true });
    expect(profileForRelease('7.2.0-rc3')).toEqual({ profile: 'v7.2', exact: true });
    expect(profileForRelease('7.0.5')).toEqual({ profile: 'v6.18', exact: false });
    expect(profileForRelease('7.9.1')).toEqual({ profile: 'v7.3', exact: false });
    expect(profileForRelease('5.15.0-91-generic')).toEqual({ profile: 'v6.18', exact: false });
    expect(profileForRelease('not-a-release')).toBeNull();
  });
});

describe('nearestPreset', () => {
  it('finds a preset itself with no difference, and lists what differs otherwise', () => {
    for (const p of Object.values(HostPresets)) expect(nearestPreset(p)).toEqual({ preset: p.name, differences: [] });
    const tdxNoSmm = { ...HostPresets['intel-tdx'], name: 'x', addressSpaces: 1 as const };
    expect(nearestPreset(tdxNoSmm)).toEqual({
      preset: 'intel-tdx',
      differences: [{ field: 'addressSpaces', host: '1', other: '2' }],
    });
    const amdDefaultOnly = { ...HostPresets['amd-snp'], name: 'y', vmTypes: 1 << VmType.KVM_X86_DEFAULT_VM };
    expect(hostDifferences(amdDefaultOnly, HostPresets['amd-snp'])).toEqual([
      { field: 'vmTypes', host: '0x1', other: '0x1f' },
    ]);
  });
});
