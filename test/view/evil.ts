/** A small valid scenario whose name and note carry markup: what the view must show as text only. */
export const EVIL = '</script><img src=x onerror=alert(1)>';

export const EVIL_SCENARIO = `format: gmemsim/1
name: ${JSON.stringify(`${EVIL} <!-- & "quotes" 'too' \u2028`)}
steps:
  - KVM_CREATE_VM: { type: KVM_X86_SW_PROTECTED_VM }
    as: vm
    expect: ok
    note: ${JSON.stringify(`${EVIL}<script>alert(2)</script>`)}
  - KVM_CREATE_GUEST_MEMFD: { fd: vm, size: 0x4000, flags: [GUEST_MEMFD_FLAG_MMAP] }
    expect: ok
`;
