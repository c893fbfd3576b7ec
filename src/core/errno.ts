/**
 * Linux errno values (x86-64, include/uapi/asm-generic/errno-base.h and errno.h).
 * A closed set: every failure the model returns is one of these.
 */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  EINTR: 4,
  EIO: 5,
  E2BIG: 7,
  EBADF: 9,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EBUSY: 16,
  EEXIST: 17,
  ENODEV: 19,
  EINVAL: 22,
  EMFILE: 24,
  ENOTTY: 25,
  EFBIG: 27,
  ENOSPC: 28,
  ESPIPE: 29,
  ERANGE: 34,
  EOPNOTSUPP: 95,
  EHWPOISON: 133,
} as const;

export type ErrnoName = keyof typeof Errno;

export const errnoNames = Object.keys(Errno) as ErrnoName[];

export function isErrnoName(s: string): s is ErrnoName {
  return Object.hasOwn(Errno, s);
}

export function errnoByNumber(n: number): ErrnoName | undefined {
  return errnoNames.find((k) => Errno[k] === n);
}
