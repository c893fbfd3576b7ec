/**
 * What the kernel's own documentation says about this uAPI, by release: short quotes of
 * Documentation/virt/kvm (api.rst, x86/intel-tdx.rst, x86/amd-memory-encryption.rst), each with the
 * tree and commit it was read at (2026-12-03, docs/notes/rules-read.md has how). Where a release's
 * copy is not stored anywhere the search tools reach, the nearest copy is named and the row says so.
 * docs/uapi.md prints them under "What the kernel's documentation says".
 */
import type { KernelName } from '../core/profiles.ts';

export interface DocQuote {
  /** the profiles whose kernel has this text */
  profiles: KernelName[];
  /** verbatim, the sentences that matter here (rst markup as in the file) */
  text: string;
  /** repo@commit (or patch mail) the text was read at */
  source: string;
  /** when the source is not the release itself */
  note?: string;
}

export interface DocSection {
  ioctl: string;
  file: string;
  quotes: DocQuote[];
}

export const KernelDocs: DocSection[] = [
  {
    ioctl: 'KVM_TDX_INIT_MEM_REGION',
    file: 'Documentation/virt/kvm/x86/intel-tdx.rst',
    quotes: [
      {
        profiles: ['v6.18'],
        text: 'Initialize @nr_pages TDX guest private memory starting from @gpa with userspace provided data from @source_addr.',
        source: 'torvalds/linux@6c7ecd725e50 (and blob 5efac62c92c7, the file before 189fd1b059a9)',
        note: 'v6.18 itself is not stored; the 6.x copies read have this sentence',
      },
      {
        profiles: ['v7.1', 'v7.2', 'v7.3', 'kvm-x86-next'],
        text: 'Initialize @nr_pages TDX guest private memory starting from @gpa with userspace provided data from @source_addr. @source_addr must be PAGE_SIZE-aligned.',
        source:
          'blob 6a222e9d0954 = 189fd1b059a9 "KVM: TDX: Document alignment requirements for KVM_TDX_INIT_MEM_REGION" (2026-01-08, in 7.0)',
        note: 'the base of the in-place series through v8 (June 2026); no 7.2, 7.3 or kvm-x86 copy is stored; pre-2a62345b3052 is a point of the same 2026-01-08 series, which of the two texts it has was not read',
      },
      {
        profiles: ['next-20260923', 'yan-proposal'],
        text: 'If guest_memfd in-place conversion is enabled, pass NULL for @source_addr to initialize the memory region using memory contents already populated in guest_memfd memory.',
        source:
          'sean-jc/linux@1934f0de5d2e = [PATCH v8 23/46] "KVM: TDX: Make source page optional for KVM_TDX_INIT_MEM_REGION" (2026-06-18)',
        note: 'the wording of af602a96f401 as merged (next-20260923) is not stored; Sean said on 2026-06-30 he would document 0 as "no source page", required without in-place conversion',
      },
    ],
  },
  {
    ioctl: 'KVM_SEV_SNP_LAUNCH_UPDATE',
    file: 'Documentation/virt/kvm/x86/amd-memory-encryption.rst',
    quotes: [
      {
        profiles: ['v6.18'],
        text: 'In the case where ``type`` is KVM_SEV_SNP_PAGE_TYPE_ZERO, ``uaddr`` will be ignored completely. … `__u64 uaddr;            /* Userspace address of data to be loaded/encrypted. */`',
        source:
          'torvalds/linux@dcbcc2323c80 and its patch mail ([PATCH v3 4/6], 2026-01-08), which shows the line it replaced',
        note: 'v6.18 itself is not stored; no change to the section between 6.11 and dcbcc2323c80',
      },
      {
        profiles: ['v7.1', 'v7.2', 'v7.3', 'kvm-x86-next'],
        text: 'In the case where ``type`` is KVM_SEV_SNP_PAGE_TYPE_ZERO, ``uaddr`` will be ignored completely. … `__u64 uaddr;            /* 4k-aligned address of data to be loaded/encrypted. */`',
        source:
          'torvalds/linux@dcbcc2323c80 "KVM: SEV: Document/enforce page-alignment for KVM_SEV_SNP_LAUNCH_UPDATE" (7.0)',
        note: 'no later mainline commit touches the section; no 7.2, 7.3 or kvm-x86 copy is stored; pre-2a62345b3052: of the same 2026-01-08 series, not read',
      },
      {
        profiles: ['next-20260923', 'yan-proposal'],
        text: 'In the case where ``type`` is KVM_SEV_SNP_PAGE_TYPE_ZERO, ``uaddr`` will be ignored completely. For all other page types, ``uaddr`` is optional if in-place conversion is enabled (i.e. when the data had been written directly to guest_memfd while the page was in the shared state) and is required if in-place conversion is disabled.',
        source: 'analogdevicesinc/linux@d6b4f5739f88 (a tree with the series applied)',
        note: 'edcc3f42981e as merged is not stored; v8 22/46 (sean-jc/linux@3b7d4a1f6ba1) says "optional if in-place conversion is enable, i.e. when the destination can also be the source"',
      },
    ],
  },
  {
    ioctl: 'KVM_CREATE_GUEST_MEMFD',
    file: 'Documentation/virt/kvm/api.rst',
    quotes: [
      {
        profiles: ['pre-2a62345b3052', 'v6.18', 'v7.1', 'v7.2', 'v7.3', 'kvm-x86-next'],
        text: 'GUEST_MEMFD_FLAG_MMAP: Enable using mmap() on the guest_memfd file descriptor. GUEST_MEMFD_FLAG_INIT_SHARED: Make all memory in the file shared during KVM_CREATE_GUEST_MEMFD (memory files created without INIT_SHARED will be marked private). Shared memory can be faulted into host userspace page tables. Private memory cannot. … For a given guest_memfd file, there can be at most one mapping per page, i.e. binding multiple memory regions to a single guest_memfd range is not allowed',
        source: 'torvalds/linux@fe2bf6234e94 (6.18-rc), cb5573868ea8 (7.0 merge) and 01f492e1817e (7.1): identical',
        note: 'no 7.2, 7.3 or kvm-x86 copy is stored',
      },
      {
        profiles: ['next-20260923', 'yan-proposal'],
        text: 'When the KVM MMU performs a PFN lookup to service a guest fault, the fault will always be consumed from guest_memfd, regardless of whether it is a shared or a private fault (unless in-place conversion is disabled and the backing guest_memfd does not have the GUEST_MEMFD_FLAG_MMAP flag set).',
        source:
          'analogdevicesinc/linux@799c9fadc639 = 799c9fadc639 "KVM: guest_memfd: Add base support for KVM_SET_MEMORY_ATTRIBUTES2" (in next-20260923)',
      },
    ],
  },
  {
    ioctl: 'KVM_SET_MEMORY_ATTRIBUTES / KVM_SET_MEMORY_ATTRIBUTES2',
    file: 'Documentation/virt/kvm/api.rst',
    quotes: [
      {
        profiles: ['pre-2a62345b3052', 'v6.18', 'v7.1', 'v7.2', 'v7.3', 'kvm-x86-next'],
        text: 'The address and size must be page aligned. … The only attribute defined at this time is KVM_MEMORY_ATTRIBUTE_PRIVATE, which marks the associated gfn as being guest private memory. … The "flags" field is reserved for future extensions and must be \'0\'.',
        source: 'torvalds/linux@fe2bf6234e94, cb5573868ea8, 01f492e1817e: identical; no KVM_SET_MEMORY_ATTRIBUTES2',
        note: 'no 7.2, 7.3 or kvm-x86 copy is stored',
      },
      {
        profiles: ['next-20260923', 'yan-proposal'],
        text: '4.146 KVM_SET_MEMORY_ATTRIBUTES2 (:Capability: KVM_CAP_GUEST_MEMFD_MEMORY_ATTRIBUTES, :Type: guest_memfd ioctl): Set attributes for a range of offsets within a guest_memfd to KVM_MEMORY_ATTRIBUTE_PRIVATE to limit the specified guest_memfd backed memory range for guest use. … after a successful call to set KVM_MEMORY_ATTRIBUTE_PRIVATE, the requested range will not be mappable into host userspace and will only be mappable by the guest.',
        source: 'analogdevicesinc/linux@799c9fadc639 (the series commit 799c9fadc639)',
        note: 'the later commits of the series (537ec2b15fdd, ...) are not stored: the final text may add the error_offset out-field the model follows',
      },
    ],
  },
];
