#!/usr/bin/env python3
# Writes test/scenarios/snp-vectors/*.yaml: the sev-snp-measure vectors of measurement.md §4.2/§4.3 as
# QEMU-style launch sequences. The SEV hash table is computed here (hashlib), independently of the model;
# expected digests are the published vectors. Run from test/scenarios/snp-vectors.
import hashlib, uuid, struct, sys
AMDSEV = [(0x800000,0x9000,1),(0x80a000,0x3000,1),(0x80d000,0x1000,2),(0x80e000,0x1000,3),(0x80f000,0x1000,4),(0x810000,0x1000,0x10),(0x811000,0xf000,1)]
BOOKWORM = [(0x800000,0x9000,1),(0x80a000,0x3000,1),(0x80d000,0x1000,2),(0x80e000,0x1000,3),(0x80f000,0x11000,1)]
def hashtable(cmdline, initrd=b'', kernel=b''):
    g = lambda s: uuid.UUID(s).bytes_le
    t = g('9438d606-4f22-4cc9-b479-a793d411fd21') + struct.pack('<H', 168)
    for gu, data in [('97d02dd8-bd20-4c94-aa78-e7714d36ab2a', cmdline + b'\0'), ('44baf731-3a2f-4bd7-9af1-41e29169781d', initrd), ('4de79437-abd2-427f-b835-d5b172d2045b', kernel)]:
        t += g(gu) + struct.pack('<H', 50) + hashlib.sha256(data).digest()
    t += b'\0' * 8
    assert len(t) == 176
    return t.hex()
def gen(num, title, expect, source, *, gf=0x1, vcpus=1, vmm='QEMU', kernel=None, seed=None, items=AMDSEV, sig=0x800f12):
    feats = 0x20 if gf == 0x21 else 0
    ec2 = vmm.startswith('ec2'); gce = vmm == 'gce'
    def typ(t):
        if t == 1: return 'UNMEASURED' if gce else 'ZERO'
        return {2:'SECRETS',3:'CPUID',0x10:('NORMAL' if kernel is not None else 'ZERO')}.get(t,'ZERO')
    lines = []
    A = lines.append
    A(f'format: gmemsim/1')
    A(f'name: "measurement.md {num}: {title}"')
    A('description: |')
    A('  A QEMU-style SNP launch through the model: '+('the firmware image as NORMAL pages' if seed is None else 'the launch digest seeded with the firmware pages\' digest (inject snp_digest_seed, as --snp-ovmf-hash)')+',')
    A('  then the OVMF SEV metadata pages in table order'+(' (ec2: CPUID pages last)' if ec2 else '')+(' (gce: SNP_SEC_MEM as UNMEASURED)' if gce else '')+', then every vCPU VMSA at')
    A(f'  SNP_LAUNCH_FINISH. Expected digest: {source}; not taken from the model.')
    A('kernel: { profile: kvm-x86 }')
    A('steps:')
    A('  - KVM_CREATE_VM: { type: KVM_X86_SNP_VM }\n    as: vm')
    A(f'  - KVM_MEMORY_ENCRYPT_OP: {{ fd: vm, id: KVM_SEV_INIT2, data: {{ vmsa_features: {hex(feats)} }} }}\n    expect: ok')
    for i in range(vcpus):
        A(f'  - KVM_CREATE_VCPU: {{ fd: vm, id: {i} }}\n    as: vcpu{i}')
        A(f'  - KVM_SET_CPUID2: {{ fd: vcpu{i}, entries: [{{ function: 1, eax: {hex(sig)} }}] }}\n    expect: ok')
        A(f'  - set_vcpu_reset: {{ fd: vcpu{i}, vmm_type: {vmm}, eip: {"0xfffffff0" if i == 0 else "0x80b004"} }}\n    expect: ok')
    A('  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x20000 }\n    as: low')
    A('  - KVM_SET_USER_MEMORY_REGION2:\n      { fd: vm, slot: 0, flags: [KVM_MEM_GUEST_MEMFD], guest_phys_addr: 0x800000, memory_size: 0x20000, guest_memfd: low }\n    expect: ok')
    A('  - KVM_SET_MEMORY_ATTRIBUTES: { fd: vm, address: 0x800000, size: 0x20000, attributes: [KVM_MEMORY_ATTRIBUTE_PRIVATE] }\n    expect: ok')
    if seed is None:
        A('  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x1000 }\n    as: flash')
        A('  - KVM_SET_USER_MEMORY_REGION2:\n      { fd: vm, slot: 1, flags: [KVM_MEM_GUEST_MEMFD], guest_phys_addr: 0xfffff000, memory_size: 0x1000, guest_memfd: flash }\n    expect: ok')
        A('  - KVM_SET_MEMORY_ATTRIBUTES: { fd: vm, address: 0xfffff000, size: 0x1000, attributes: [KVM_MEMORY_ATTRIBUTE_PRIVATE] }\n    expect: ok')
        A('  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_SEV_SNP_LAUNCH_START, data: { policy: 0x30000 } }\n    expect: ok')
    else:
        A(f'  - KVM_MEMORY_ENCRYPT_OP: {{ fd: vm, id: KVM_SEV_SNP_LAUNCH_START, data: {{ policy: 0x30000 }} }}\n    inject: {{ snp_digest_seed: {seed} }}\n    expect: ok')
    A('  - mmap: { length: 0x20000, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS] }\n    as: scratch')
    if seed is None:
        A('  - mmap: { length: 0x1000, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS] }\n    as: image')
        A('  - store: { addr: image, data: { file: ../../../../shared/firmware/fixtures/ovmf_AmdSev_suffix.bin } }\n    expect: { ret: 4096 }')
        A('  - KVM_MEMORY_ENCRYPT_OP:\n      fd: vm\n      id: KVM_SEV_SNP_LAUNCH_UPDATE\n      data: { gfn_start: 0xfffff, uaddr: image, len: 0x1000, type: KVM_SEV_SNP_PAGE_TYPE_NORMAL }\n    expect: { ret: 0, data: { gfn_start: 0x100000, uaddr: image+0x1000, len: 0 } }')
    if kernel is not None:
        A('  - mmap: { length: 0x1000, prot: [PROT_READ, PROT_WRITE], flags: [MAP_PRIVATE, MAP_ANONYMOUS] }\n    as: hashes')
        A(f'  - store: {{ addr: hashes+0xc00, data: {{ hex: "{hashtable(kernel)}" }} }}\n    note: the SEV hash table (cmdline, initrd, kernel SHA-256) at the in-page offset of the table GUID entry\n    expect: ok')
    order = [it for it in items if not (ec2 and it[2] == 3)] + ([it for it in items if it[2] == 3] if ec2 else [])
    for (base, size, t) in order:
        tn = typ(t)
        src = '0' if tn in ('ZERO',) else ('hashes' if tn == 'NORMAL' else 'scratch')
        A(f'  - KVM_MEMORY_ENCRYPT_OP:\n      fd: vm\n      id: KVM_SEV_SNP_LAUNCH_UPDATE\n      data: {{ gfn_start: {hex(base >> 12)}, uaddr: {src}, len: {hex(size)}, type: KVM_SEV_SNP_PAGE_TYPE_{tn} }}\n    expect: {{ ret: 0, data: {{ gfn_start: {hex((base + size) >> 12)}, len: 0 }} }}')
    A('  - KVM_MEMORY_ENCRYPT_OP: { fd: vm, id: KVM_SEV_SNP_LAUNCH_FINISH }\n    expect: ok')
    A(f'  - attest: {{ fd: vm }}\n    expect: {{ measurement: {expect} }}')
    return '\n'.join(lines) + '\n'
SSM = 'sev-snp-measure v0.0.13 tests (measurement.md §4.2)'
V = [
 ('s02-kernel-append-gf21', 'S2', 'fixture, 1 vCPU, kernel hashes of /dev/null with append console=ttyS0 loglevel=7, gf 0x21', '803f691094946e42068aaa3a8f9e26a5c89f36f7b73ecfb28c653360fe4b3aba7e534442e7e1e17895dfe778d0228977', dict(gf=0x21, kernel=b'console=ttyS0 loglevel=7')),
 ('s03-kernel-append-gf1', 'S3', 'same as S2 with gf 0x1', '6d287813eb5222d770f75005c664e34c204f385ce832cc2ce7d0d6f354454362f390ef83a92046c042e706363b4b08fa', dict(gf=0x1, kernel=b'console=ttyS0 loglevel=7')),
 ('s04-no-kernel-gf21', 'S4', 'fixture, 1 vCPU, no kernel, gf 0x21', 'e1e1ca029dd7973ab9513295be68198472dcd4fc834bd9af9b63f6e8a1674dbf281a9278a4a2ebe0eed9f22adbcd0e2b', dict(gf=0x21)),
 ('s05-no-kernel-gf1', 'S5', 'fixture, 1 vCPU, no kernel, gf 0x1', '19358ba9a7615534a9a1e2f0dfc29384dcd4dcb7062ff9c6013b26869a5fc6ecabe033c48dd6f6db5d6d76e7c5df632d', dict(gf=0x1)),
 ('s06-4vcpus-kernel-gf21', 'S6', 'fixture, 4 vCPUs, kernel hashes, empty append, gf 0x21', '4953b1fb416fa874980e8442b3706d345926d5f38879134e00813c5d7abcbe78eafe7b422907be0b4698e2414a631942', dict(gf=0x21, vcpus=4, kernel=b'')),
 ('s07-4vcpus-kernel-gf1', 'S7', 'fixture, 4 vCPUs, kernel hashes, gf 0x1', '5061fffb019493a903613d56d54b94912a1a2f9e4502385f5c194616753720a92441310ba6c4933de877c36e23046ad5', dict(gf=0x1, vcpus=4, kernel=b'')),
 ('s10-ec2-gf21', 'S10', 'vmm ec2, 1 vCPU, kernel hashes, gf 0x21', '0ce9ccc06bab55eebe8abc234f3df6514883977a68a591b71052498ab52b2f1aa415db338033946ef93aa8278c0d67fb', dict(gf=0x21, vmm='ec2', kernel=b'')),
 ('s11-ec2-gf1', 'S11', 'vmm ec2, gf 0x1', '0883bd0eeb716e65b7b977a321c278d1e51b33b5c655fab985443bbcc65c086b9c15e8a0bd8811050dec7e24964e5056', dict(gf=0x1, vmm='ec2', kernel=b'')),
 ('s12-gce-1vcpu', 'S12', 'vmm gce, 1 vCPU, kernel hashes, gf 0x1', '5da7106cf14cf46b1725ebab123eb9e53bd46a1e9f400cd0c08e7827b04b688ea8b4e403c8404efed4397ea5d5d0722e', dict(gf=0x1, vmm='gce', kernel=b'', sig=0)),
 ('s13-gce-4vcpus', 'S13', 'vmm gce, 4 vCPUs', '5c5debf100fc339f90276e761ee1f1658d08922c3b20e2a2e6c7a6c3370b2452a15a00eae11886a93d6fd1e7ab81e29d', dict(gf=0x1, vmm='gce', kernel=b'', vcpus=4, sig=0)),
 ('s14-seed-gf21', 'S14', 'seeded with the firmware digest 086e2e91…, kernel hashes, empty append, gf 0x21', '329c8ce0972ae52343b64d34a434a86f245dfd74f5ed7aae15d22efc78fb9683632b9b50e4e1d7fa41179ef98a7ef198', dict(gf=0x21, kernel=b'', seed='086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74')),
 ('s15-seed-gf1', 'S15', 'same seed, gf 0x1', 'ddc5224521617a536ee7ce9dd6224d1b58a8d4fda1c741f3ac99fc4bfa04ba6e9fc98646d4a07a9079397fa3852819b5', dict(gf=0x1, kernel=b'', seed='086e2e9149ebf45abdc3445fba5b2da8270bdbb04094d7a2c37faaa4b24af3aa16aff8c374c2a55c467a50da6d466b74')),
 ('g1-go-seed-ec2', 'G1', 'sev-snp-measure-go testdata ovmf_img_1: seed, ec2 (old VMSA, rdx 0), 2 vCPUs, gf 0x1', '4c6e33087d08fa770259484dddbef367086a15c3e2cf10038dc97229d39c942671c2e22b300178f8de594a3f2fa59303', dict(gf=0x1, vmm='ec2_legacy', vcpus=2, items=BOOKWORM, seed='a58211791a556a630a4319dc9e2ea96cc0e9784dd9f20a4fadf81b26c98d163fcdcb6703884bbbb80d7b1de45b3d84d0')),
 ('g2-go-seed-ec2', 'G2', 'sev-snp-measure-go testdata ovmf_img_2', 'c2c84b9364fc9f0f54b04534768c860c6e0e386ad98b96e8b98eca46ac8971d05c531ba48373f054c880cfd1f4a0a84e', dict(gf=0x1, vmm='ec2_legacy', vcpus=2, items=BOOKWORM, seed='2027a27bb9f7acfd280e4c7bd68a73973b94bf0756e5b282e004b9395f597b8d0eb4defa7d8f6549375aa4d2b146f0f3')),
]
for fname, num, title, exp, kw in V:
    src = 'virtee/sev-snp-measure-go guest/testdata (measurement.md §4.3)' if num.startswith('G') else SSM
    open(fname + '.yaml', 'w').write(gen('§4.2 ' + num if num.startswith('S') else '§4.3 ' + num, title, exp, src, **kw))
