/**
 * The AMD PSP (SNP firmware) and the RMP, as far as a launch needs them: per-page RMP assignment,
 * SNP_LAUNCH_UPDATE with the PAGE_INFO launch-digest chain (measurement.md §2.2, SNP ABI "Layout of
 * the PAGE_INFO structure"), LAUNCH_FINISH, and the firmware's guest state.
 */
import { STALE_PAGE } from '../guest_memfd/folio.ts';
import type { Sha384Factory } from '../ports.ts';

export const SNP_PAGE_TYPE = { NORMAL: 1, VMSA: 2, ZERO: 3, UNMEASURED: 4, SECRETS: 5, CPUID: 6 } as const;
/** KVM's RMP GPA for every VMSA page */
export const INITIAL_VMSA_GPA = 0xfffffffff000n;

/**
 * SEV firmware status codes by name (SEV API "Status codes"; Linux include/uapi/linux/psp-sev.h
 * sev_ret_code, without its SEV_RET_ prefix): what a scenario's `error:` and an injected firmware
 * failure name.
 */
export const FwError = {
  SUCCESS: 0x0,
  INVALID_PLATFORM_STATE: 0x1,
  INVALID_GUEST_STATE: 0x2,
  INVALID_CONFIG: 0x3,
  INVALID_LENGTH: 0x4,
  ALREADY_OWNED: 0x5,
  INVALID_CERTIFICATE: 0x6,
  POLICY_FAILURE: 0x7,
  INACTIVE: 0x8,
  INVALID_ADDRESS: 0x9,
  BAD_SIGNATURE: 0xa,
  BAD_MEASUREMENT: 0xb,
  ASID_OWNED: 0xc,
  INVALID_ASID: 0xd,
  WBINVD_REQUIRED: 0xe,
  DFFLUSH_REQUIRED: 0xf,
  INVALID_GUEST: 0x10,
  INVALID_COMMAND: 0x11,
  ACTIVE: 0x12,
  HWSEV_RET_PLATFORM: 0x13,
  HWSEV_RET_UNSAFE: 0x14,
  UNSUPPORTED: 0x15,
  INVALID_PARAM: 0x16,
  RESOURCE_LIMIT: 0x17,
  SECURE_DATA_INVALID: 0x18,
  INVALID_PAGE_SIZE: 0x19,
  INVALID_PAGE_STATE: 0x1a,
  INVALID_MDATA_ENTRY: 0x1b,
  INVALID_PAGE_OWNER: 0x1c,
  AEAD_OFLOW: 0x1d,
  EXIT_RING_BUFFER: 0x1f,
  RMP_INIT_REQUIRED: 0x20,
  BAD_SVN: 0x21,
  BAD_VERSION: 0x22,
  SHUTDOWN_REQUIRED: 0x23,
  UPDATE_FAILED: 0x24,
  RESTORE_REQUIRED: 0x25,
  RMP_INITIALIZATION_FAILED: 0x26,
  INVALID_KEY: 0x27,
} as const satisfies Record<string, number>;

/**
 * A firmware status given by name (a key of FwError) or as hex digits (`0x16`, `16`); undefined for
 * anything else.
 */
export function fwErrorByName(e: string): number | undefined {
  if (Object.hasOwn(FwError, e)) return FwError[e as keyof typeof FwError];
  return /^(0[xX])?[0-9a-fA-F]+$/.test(e) ? Number.parseInt(e, 16) : undefined;
}

export class Psp {
  /** launch digest (LD): 48 zero bytes at SNP_LAUNCH_START */
  ld: Uint8Array = new Uint8Array(48);
  state: 'LAUNCH' | 'RUNNING' = 'LAUNCH';
  updates = 0;
  private readonly sha: Sha384Factory;
  private readonly info = new Uint8Array(0x70);
  private readonly view = new DataView(this.info.buffer);

  constructor(sha: Sha384Factory) {
    this.sha = sha;
  }

  digest(b: Uint8Array): Uint8Array {
    // two digests a page: the port's one-shot, where it has one, spares a running hash per digest
    const oneShot = this.sha.oneShot;
    if (oneShot) return oneShot(b);
    const h = this.sha();
    h.update(b);
    return h.digest();
  }

  /** One SNP_LAUNCH_UPDATE page: LD = SHA-384(PAGE_INFO). `contents` is the page for NORMAL and VMSA. */
  /** integrity audit of the launch (what the invariants check): each count must stay 0 */
  readonly audit_ = { doubleAdds: 0, staleAdds: 0, addsAfterFinish: 0 };
  audit(type: number, _inode: unknown, _index: number, page: Uint8Array, wasAssigned: boolean): void {
    if (wasAssigned) this.audit_.doubleAdds++;
    if (page === STALE_PAGE && type !== SNP_PAGE_TYPE.ZERO) this.audit_.staleAdds++;
    if (this.state !== 'LAUNCH') this.audit_.addsAfterFinish++;
  }

  launchUpdate(type: number, gpa: bigint, page: Uint8Array | null): void {
    const b = this.info;
    b.set(this.ld, 0);
    if ((type === SNP_PAGE_TYPE.NORMAL || type === SNP_PAGE_TYPE.VMSA) && page) b.set(this.digest(page), 0x30);
    else b.fill(0, 0x30, 0x60);
    this.view.setUint16(0x60, 0x70, true);
    b[0x62] = type;
    b.fill(0, 0x63, 0x68);
    this.view.setBigUint64(0x68, gpa, true);
    this.ld = this.digest(b);
    this.updates++;
  }
}
