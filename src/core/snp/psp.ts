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

/** SEV firmware status codes (SEV API "Status codes") the model produces */
export const FwError = { INVALID_GUEST_STATE: 0x2, INVALID_PARAM: 0x16 } as const;

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
