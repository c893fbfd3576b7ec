/*
 * gmemsim kvm-helper: runs one scenario's system calls on the running kernel, for `gmemsim run
 * --live` and `gmemsim host` (docs/notes/live.md). Part of gmemsim; built from this file by
 * scripts/build-helper.mjs (npm's prepare) or lazily by src/node/live/helper.ts.
 *
 * Why a process of its own: KVM accepts a VM's ioctls only from the mm that created it, and a load
 * or store that faults (SIGBUS, SIGSEGV) is an expected result here. The helper catches those with
 * sigsetjmp/siglongjmp around the one access, so neither it nor Node dies.
 *
 * Protocol (version 1), line-oriented, over the helper's stdin/stdout:
 *   startup line   "gmemsim-kvm-helper 1 kvm_fd=N" or "! <one-line reason>" (then exit 2)
 *   request        NAME ARG...        ARG: an unsigned integer (0x hex or decimal), or data:
 *                                     "h:<hex bytes>" or "f:<byte>:<length>"
 *   response       "= RET ERRNO SIG [key=value]..."
 *                  RET the call's return value (signed decimal), ERRNO 0 or the errno number,
 *                  SIG '-' or SIGBUS/SIGSEGV; values: bytes=h:<hex> | bytes=f:<byte>:<len>, and the
 *                  struct fields the kernel wrote back (gpa=, size=, st_size=, st_blksize=, ...)
 *   refusal        "! <one-line reason>" (the request was not issued)
 * Every number in a response is decimal except inside bytes=.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <linux/ioctl.h>
#include <setjmp.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#if defined(__has_include)
#if __has_include(<linux/kvm.h>)
#include <linux/kvm.h>
#define HAVE_KVM_H 1
#endif
#endif

#ifndef KVMIO
#define KVMIO 0xAE
#endif

/* ---- uAPI structs (include/uapi/linux/kvm.h). Our own declarations with the kernel's layout;
 * where the system header has the struct too, the layouts are checked against each other. ---- */

struct gm_region {
  uint32_t slot;
  uint32_t flags;
  uint64_t guest_phys_addr;
  uint64_t memory_size;
  uint64_t userspace_addr;
};
_Static_assert(sizeof(struct gm_region) == 32, "kvm_userspace_memory_region is 32 bytes");

struct gm_region2 {
  uint32_t slot;
  uint32_t flags;
  uint64_t guest_phys_addr;
  uint64_t memory_size;
  uint64_t userspace_addr;
  uint64_t guest_memfd_offset;
  uint32_t guest_memfd;
  uint32_t pad1;
  uint64_t pad2[14];
};
_Static_assert(sizeof(struct gm_region2) == 160, "kvm_userspace_memory_region2 is 160 bytes");
_Static_assert(offsetof(struct gm_region2, guest_memfd_offset) == 32, "guest_memfd_offset at 32");
_Static_assert(offsetof(struct gm_region2, guest_memfd) == 40, "guest_memfd at 40");

struct gm_create_gmem {
  uint64_t size;
  uint64_t flags;
  uint64_t reserved[6];
};
_Static_assert(sizeof(struct gm_create_gmem) == 64, "kvm_create_guest_memfd is 64 bytes");

struct gm_attrs {
  uint64_t address;
  uint64_t size;
  uint64_t attributes;
  uint64_t flags;
};
_Static_assert(sizeof(struct gm_attrs) == 32, "kvm_memory_attributes is 32 bytes");

/* the in-place series' kvm_memory_attributes2 (v8 api.rst layout): 128 bytes */
struct gm_attrs2 {
  uint64_t offset;
  uint64_t size;
  uint64_t attributes;
  uint64_t flags;
  uint64_t error_offset;
  uint64_t reserved[11];
};
_Static_assert(sizeof(struct gm_attrs2) == 128, "kvm_memory_attributes2 is 128 bytes");

struct gm_prefault {
  uint64_t gpa;
  uint64_t size;
  uint64_t flags;
  uint64_t padding[5];
};
_Static_assert(sizeof(struct gm_prefault) == 64, "kvm_pre_fault_memory is 64 bytes");

struct gm_enable_cap {
  uint32_t cap;
  uint32_t flags;
  uint64_t args[4];
  uint8_t pad[64];
};
_Static_assert(sizeof(struct gm_enable_cap) == 104, "kvm_enable_cap is 104 bytes");

struct gm_cpuid_entry {
  uint32_t function, index, flags, eax, ebx, ecx, edx;
  uint32_t padding[3];
};
_Static_assert(sizeof(struct gm_cpuid_entry) == 40, "kvm_cpuid_entry2 is 40 bytes");
struct gm_cpuid2 {
  uint32_t nent;
  uint32_t padding;
  struct gm_cpuid_entry entries[];
};

/* kvm_sev_cmd { u32 id; u32 pad0; u64 data; u32 error; u32 sev_fd; } and
 * kvm_tdx_cmd { u32 id; u32 flags; u64 data; u64 hw_error; } share their first 16 bytes */
struct gm_enc_cmd {
  uint32_t id;
  uint32_t flags;
  uint64_t data;
  union {
    uint64_t hw_error;
    struct {
      uint32_t error;
      uint32_t sev_fd;
    } sev;
  } u;
};
_Static_assert(sizeof(struct gm_enc_cmd) == 24, "kvm_sev_cmd / kvm_tdx_cmd are 24 bytes");

#ifdef HAVE_KVM_H
_Static_assert(sizeof(struct kvm_userspace_memory_region) == sizeof(struct gm_region), "region");
_Static_assert(sizeof(struct kvm_enable_cap) == sizeof(struct gm_enable_cap), "enable_cap");
_Static_assert(sizeof(struct kvm_cpuid_entry2) == sizeof(struct gm_cpuid_entry), "cpuid_entry2");
#ifdef KVM_SET_USER_MEMORY_REGION2
_Static_assert(sizeof(struct kvm_userspace_memory_region2) == sizeof(struct gm_region2), "region2");
_Static_assert(offsetof(struct kvm_userspace_memory_region2, guest_memfd) == 40, "region2.guest_memfd");
#endif
#ifdef KVM_CREATE_GUEST_MEMFD
_Static_assert(sizeof(struct kvm_create_guest_memfd) == sizeof(struct gm_create_gmem), "create_guest_memfd");
#endif
#ifdef KVM_SET_MEMORY_ATTRIBUTES
_Static_assert(sizeof(struct kvm_memory_attributes) == sizeof(struct gm_attrs), "memory_attributes");
#endif
#ifdef KVM_PRE_FAULT_MEMORY
_Static_assert(sizeof(struct kvm_pre_fault_memory) == sizeof(struct gm_prefault), "pre_fault_memory");
#endif
#endif

/* ioctl numbers: the header's when it has them, else computed from the layouts above */
#ifndef KVM_GET_API_VERSION
#define KVM_GET_API_VERSION _IO(KVMIO, 0x00)
#endif
#ifndef KVM_CREATE_VM
#define KVM_CREATE_VM _IO(KVMIO, 0x01)
#endif
#ifndef KVM_CHECK_EXTENSION
#define KVM_CHECK_EXTENSION _IO(KVMIO, 0x03)
#endif
#ifndef KVM_CREATE_VCPU
#define KVM_CREATE_VCPU _IO(KVMIO, 0x41)
#endif
#ifndef KVM_SET_USER_MEMORY_REGION
#define KVM_SET_USER_MEMORY_REGION _IOW(KVMIO, 0x46, struct gm_region)
#endif
#ifndef KVM_SET_USER_MEMORY_REGION2
#define KVM_SET_USER_MEMORY_REGION2 _IOW(KVMIO, 0x49, struct gm_region2)
#endif
#ifndef KVM_SET_CPUID2
#define KVM_SET_CPUID2 _IOW(KVMIO, 0x90, struct gm_cpuid2)
#endif
#ifndef KVM_ENABLE_CAP
#define KVM_ENABLE_CAP _IOW(KVMIO, 0xa3, struct gm_enable_cap)
#endif
#ifndef KVM_MEMORY_ENCRYPT_OP
#define KVM_MEMORY_ENCRYPT_OP _IOWR(KVMIO, 0xba, unsigned long)
#endif
#ifndef KVM_SET_MEMORY_ATTRIBUTES
#define KVM_SET_MEMORY_ATTRIBUTES _IOW(KVMIO, 0xd2, struct gm_attrs)
#endif
#ifndef KVM_SET_MEMORY_ATTRIBUTES2
#define KVM_SET_MEMORY_ATTRIBUTES2 _IOWR(KVMIO, 0xd2, struct gm_attrs2)
#endif
#ifndef KVM_CREATE_GUEST_MEMFD
#define KVM_CREATE_GUEST_MEMFD _IOWR(KVMIO, 0xd4, struct gm_create_gmem)
#endif
#ifndef KVM_PRE_FAULT_MEMORY
#define KVM_PRE_FAULT_MEMORY _IOWR(KVMIO, 0xd5, struct gm_prefault)
#endif

/* the largest single allocation the helper will make (Node refuses earlier, with the reason) */
#define CAP_BYTES (256ull << 20)
#define MAX_ARGS 1100
#define PAGE 4096ull

static FILE *out;

/* ---- memory the scenario mapped: only there may it write, unmap or remap ---- */
struct range {
  uint64_t start, end;
};
static struct range owned[4096];
static int nowned;

static void own_add(uint64_t s, uint64_t e) {
  if (nowned < (int)(sizeof owned / sizeof owned[0])) owned[nowned++] = (struct range){s, e};
}

static void own_remove(uint64_t s, uint64_t e) {
  struct range keep[sizeof owned / sizeof owned[0]];
  int n = 0;
  for (int i = 0; i < nowned; i++) {
    struct range r = owned[i];
    if (r.end <= s || r.start >= e) {
      keep[n++] = r;
      continue;
    }
    if (r.start < s && n < 4096) keep[n++] = (struct range){r.start, s};
    if (r.end > e && n < 4096) keep[n++] = (struct range){e, r.end};
  }
  memcpy(owned, keep, sizeof(struct range) * (size_t)n);
  nowned = n;
}

/* is [s, e) covered by ranges the scenario mapped? */
static int own_covers(uint64_t s, uint64_t e) {
  uint64_t at = s;
  int moved = 1;
  while (at < e && moved) {
    moved = 0;
    for (int i = 0; i < nowned; i++)
      if (owned[i].start <= at && owned[i].end > at) {
        at = owned[i].end;
        moved = 1;
      }
  }
  return at >= e;
}

/*
 * Does [s, e) touch a mapping of the helper itself (its code, heap, stack, the vDSO)? Read from
 * /proc/self/maps; a mapping counts as the helper's unless the scenario mapped all of its overlap.
 */
static int touches_foreign(uint64_t s, uint64_t e) {
  if (e <= s) return 0;
  FILE *m = fopen("/proc/self/maps", "r");
  if (!m) return 1;
  char line[512];
  int hit = 0;
  while (!hit && fgets(line, sizeof line, m)) {
    unsigned long long a, b;
    if (sscanf(line, "%llx-%llx", &a, &b) != 2) continue;
    uint64_t lo = a > s ? a : s, hi = b < e ? b : e;
    if (lo < hi && !own_covers(lo, hi)) hit = 1;
  }
  fclose(m);
  return hit;
}

/* ---- faults ---- */
static sigjmp_buf fault_jmp;
static volatile sig_atomic_t in_access;

static void on_fault(int sig) {
  if (in_access) {
    in_access = 0;
    siglongjmp(fault_jmp, sig);
  }
  /* a fault outside a scenario access is a helper bug: die with it */
  signal(sig, SIG_DFL);
  raise(sig);
}

/* ---- parsing and output ---- */
struct data {
  uint8_t *bytes;
  uint64_t len;
  int fill;
  int is_fill;
};

static int hexval(int c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

/* "h:<hex>" or "f:<byte>:<len>"; returns 0 on a malformed token */
static int parse_data(const char *t, struct data *d) {
  memset(d, 0, sizeof *d);
  if (t[0] == 'f' && t[1] == ':') {
    char *end;
    d->fill = (int)strtoul(t + 2, &end, 0);
    if (*end != ':') return 0;
    d->len = strtoull(end + 1, NULL, 0);
    d->is_fill = 1;
    return 1;
  }
  if (t[0] == 'h' && t[1] == ':') {
    size_t n = strlen(t + 2);
    if (n % 2) return 0;
    d->len = n / 2;
    d->bytes = malloc(d->len ? d->len : 1);
    if (!d->bytes) return 0;
    for (size_t i = 0; i < d->len; i++) {
      int hi = hexval(t[2 + 2 * i]), lo = hexval(t[3 + 2 * i]);
      if (hi < 0 || lo < 0) return 0;
      d->bytes[i] = (uint8_t)(hi << 4 | lo);
    }
    return 1;
  }
  return 0;
}

/* materialise data into a buffer of d->len bytes (caller frees) */
static uint8_t *data_buf(struct data *d) {
  if (!d->is_fill) return d->bytes;
  uint8_t *b = malloc(d->len ? d->len : 1);
  if (b) memset(b, d->fill, d->len);
  return b;
}

static void put_bytes(const uint8_t *b, uint64_t n) {
  int uniform = n > 0;
  for (uint64_t i = 1; i < n && uniform; i++) uniform = b[i] == b[0];
  if (uniform) {
    fprintf(out, " bytes=f:%u:%llu", b[0], (unsigned long long)n);
    return;
  }
  fputs(" bytes=h:", out);
  for (uint64_t i = 0; i < n; i++) fprintf(out, "%02x", b[i]);
}

static void begin(long long ret, int err, int sig) {
  fprintf(out, "= %lld %d %s", ret, err, sig == SIGBUS ? "SIGBUS" : sig == SIGSEGV ? "SIGSEGV" : "-");
}
static void end(void) {
  fputc('\n', out);
  fflush(out);
}
static void result(long long ret) {
  begin(ret < 0 ? -1 : ret, ret < 0 ? errno : 0, 0);
  end();
}
static void refuse(const char *why) {
  fprintf(out, "! %s\n", why);
  fflush(out);
}

/* ---- requests ---- */
static int kvm_fd = -1;

static int is_own_pipe(uint64_t fd) { return fd <= 2; }

static void handle(int argc, char **argv) {
  const char *op = argv[0];
  uint64_t a[MAX_ARGS];
  for (int i = 1; i < argc && i < MAX_ARGS; i++) a[i - 1] = strtoull(argv[i], NULL, 0);
  int n = argc - 1;
#define NEED(k)                                                                                                        \
  do {                                                                                                                 \
    if (n < (k)) {                                                                                                     \
      refuse("bad request: too few arguments");                                                                        \
      return;                                                                                                          \
    }                                                                                                                  \
  } while (0)
  /* every fd argument comes first; the helper's protocol pipes are not the scenario's to use */
  if (strcmp(op, "kvm_fd") && strcmp(op, "mmap") && strcmp(op, "munmap") && strcmp(op, "madvise") &&
      strcmp(op, "load") && strcmp(op, "store") && n >= 1 && is_own_pipe(a[0])) {
    refuse("fd 0-2 are the helper's protocol pipes");
    return;
  }
  errno = 0;
  if (!strcmp(op, "kvm_fd")) {
    result(kvm_fd);
  } else if (!strcmp(op, "api_version")) {
    NEED(1);
    /* the ioctl's argument: 0 unless the request gives one (KVM refuses a non-zero one) */
    result(ioctl((int)a[0], KVM_GET_API_VERSION, n > 1 ? (unsigned long)a[1] : 0UL));
  } else if (!strcmp(op, "create_vm")) {
    NEED(2);
    result(ioctl((int)a[0], KVM_CREATE_VM, (unsigned long)a[1]));
  } else if (!strcmp(op, "check_extension")) {
    NEED(2);
    result(ioctl((int)a[0], KVM_CHECK_EXTENSION, (unsigned long)a[1]));
  } else if (!strcmp(op, "enable_cap")) {
    NEED(7);
    struct gm_enable_cap c = {.cap = (uint32_t)a[1], .flags = (uint32_t)a[2]};
    for (int i = 0; i < 4; i++) c.args[i] = a[3 + i];
    result(ioctl((int)a[0], KVM_ENABLE_CAP, &c));
  } else if (!strcmp(op, "create_vcpu")) {
    NEED(2);
    result(ioctl((int)a[0], KVM_CREATE_VCPU, (unsigned long)a[1]));
  } else if (!strcmp(op, "set_cpuid2")) {
    /* fd nent count then count * (function index flags eax ebx ecx edx) */
    NEED(3);
    uint64_t count = a[2];
    if (count > 256 || (uint64_t)n < 3 + 7 * count) {
      refuse("bad request: cpuid entries");
      return;
    }
    struct gm_cpuid2 *c = calloc(1, sizeof *c + sizeof(struct gm_cpuid_entry) * (count ? count : 1));
    c->nent = (uint32_t)a[1];
    for (uint64_t i = 0; i < count; i++) {
      uint64_t *e = &a[3 + 7 * i];
      c->entries[i] = (struct gm_cpuid_entry){(uint32_t)e[0], (uint32_t)e[1], (uint32_t)e[2], (uint32_t)e[3],
                                              (uint32_t)e[4], (uint32_t)e[5], (uint32_t)e[6], {0, 0, 0}};
    }
    long r = ioctl((int)a[0], KVM_SET_CPUID2, c);
    int e = errno;
    free(c);
    errno = e;
    result(r);
  } else if (!strcmp(op, "create_guest_memfd")) {
    NEED(3);
    struct gm_create_gmem c = {.size = a[1], .flags = a[2]};
    result(ioctl((int)a[0], KVM_CREATE_GUEST_MEMFD, &c));
  } else if (!strcmp(op, "set_region")) {
    /* fd slot flags gpa size uaddr */
    NEED(6);
    struct gm_region r = {(uint32_t)a[1], (uint32_t)a[2], a[3], a[4], a[5]};
    result(ioctl((int)a[0], KVM_SET_USER_MEMORY_REGION, &r));
  } else if (!strcmp(op, "set_region2")) {
    /* fd slot flags gpa size uaddr gmem_fd gmem_offset */
    NEED(8);
    struct gm_region2 r = {.slot = (uint32_t)a[1],
                           .flags = (uint32_t)a[2],
                           .guest_phys_addr = a[3],
                           .memory_size = a[4],
                           .userspace_addr = a[5],
                           .guest_memfd = (uint32_t)a[6],
                           .guest_memfd_offset = a[7]};
    result(ioctl((int)a[0], KVM_SET_USER_MEMORY_REGION2, &r));
  } else if (!strcmp(op, "set_attributes")) {
    NEED(5);
    struct gm_attrs r = {a[1], a[2], a[3], a[4]};
    result(ioctl((int)a[0], KVM_SET_MEMORY_ATTRIBUTES, &r));
  } else if (!strcmp(op, "set_attributes2")) {
    /* fd offset size attributes flags error_offset reserved0..10 */
    NEED(6);
    struct gm_attrs2 r = {.offset = a[1], .size = a[2], .attributes = a[3], .flags = a[4], .error_offset = a[5]};
    for (int i = 0; i < 11 && 6 + i < n; i++) r.reserved[i] = a[6 + i];
    long ret = ioctl((int)a[0], KVM_SET_MEMORY_ATTRIBUTES2, &r);
    int e = errno;
    begin(ret < 0 ? -1 : ret, ret < 0 ? e : 0, 0);
    fprintf(out, " error_offset=%llu", (unsigned long long)r.error_offset);
    end();
  } else if (!strcmp(op, "encrypt_op")) {
    /* fd id flags data hw_error error sev_fd: data is the scalar the scenario gave, or zbuf */
    /* data "zbuf": a pointer to 4 KiB of zeros (the scenario's all-zero sub-command struct) */
    NEED(7);
    static uint8_t zbuf[4096];
    memset(zbuf, 0, sizeof zbuf);
    uint64_t data = strcmp(argv[4], "zbuf") ? a[3] : (uint64_t)(uintptr_t)zbuf;
    struct gm_enc_cmd c = {.id = (uint32_t)a[1], .flags = (uint32_t)a[2], .data = data};
    if (a[4]) c.u.hw_error = a[4];
    else {
      c.u.sev.error = (uint32_t)a[5];
      c.u.sev.sev_fd = (uint32_t)a[6];
    }
    long ret = ioctl((int)a[0], KVM_MEMORY_ENCRYPT_OP, &c);
    int e = errno;
    begin(ret < 0 ? -1 : ret, ret < 0 ? e : 0, 0);
    fprintf(out, " hw_error=%llu error=%u", (unsigned long long)c.u.hw_error, c.u.sev.error);
    end();
  } else if (!strcmp(op, "pre_fault")) {
    NEED(4);
    struct gm_prefault p = {.gpa = a[1], .size = a[2], .flags = a[3]};
    long ret = ioctl((int)a[0], KVM_PRE_FAULT_MEMORY, &p);
    int e = errno;
    begin(ret < 0 ? -1 : ret, ret < 0 ? e : 0, 0);
    fprintf(out, " gpa=%llu size=%llu", (unsigned long long)p.gpa, (unsigned long long)p.size);
    end();
  } else if (!strcmp(op, "mmap")) {
    /* addr length prot flags fd offset */
    NEED(6);
    uint64_t addr = a[0], len = a[1], flags = a[3];
    if ((flags & MAP_POPULATE) && len > CAP_BYTES) {
      refuse("would populate more than the helper's allocation cap");
      return;
    }
    if ((flags & MAP_FIXED) && !(flags & MAP_FIXED_NOREPLACE) && touches_foreign(addr, addr + len)) {
      refuse("MAP_FIXED over memory of the runner itself");
      return;
    }
    if (a[4] <= 2 && !(flags & MAP_ANONYMOUS)) {
      refuse("fd 0-2 are the helper's protocol pipes");
      return;
    }
    void *p = mmap((void *)addr, len, (int)a[2], (int)flags, (int)a[4], (off_t)a[5]);
    if (p == MAP_FAILED) {
      result(-1);
      return;
    }
    uint64_t s = (uint64_t)p;
    own_add(s, s + ((len + PAGE - 1) & ~(PAGE - 1)));
    result((long long)s);
  } else if (!strcmp(op, "munmap")) {
    NEED(2);
    uint64_t s = a[0], e = a[0] + ((a[1] + PAGE - 1) & ~(PAGE - 1));
    if (e > s && touches_foreign(s, e)) {
      refuse("munmap over memory of the runner itself");
      return;
    }
    long r = munmap((void *)s, a[1]);
    if (r == 0) own_remove(s, e);
    result(r);
  } else if (!strcmp(op, "madvise")) {
    NEED(3);
    uint64_t s = a[0], e = a[0] + a[1];
    if (e > s && touches_foreign(s, e)) {
      refuse("madvise over memory of the runner itself");
      return;
    }
    result(madvise((void *)s, a[1], (int)a[2]));
  } else if (!strcmp(op, "load")) {
    NEED(2);
    uint64_t len = a[1];
    if (len > CAP_BYTES) {
      refuse("load larger than the helper's cap");
      return;
    }
    uint8_t *buf = malloc(len ? len : 1);
    int sig = sigsetjmp(fault_jmp, 1);
    if (sig == 0) {
      in_access = 1;
      memcpy(buf, (const void *)a[0], len);
      in_access = 0;
      begin((long long)len, 0, 0);
      put_bytes(buf, len);
      end();
    } else {
      begin(-1, 0, sig);
      end();
    }
    free(buf);
  } else if (!strcmp(op, "store")) {
    NEED(1);
    struct data d;
    if (argc < 3 || !parse_data(argv[2], &d)) {
      refuse("bad request: data");
      return;
    }
    if (d.len > CAP_BYTES) {
      refuse("store larger than the helper's cap");
      return;
    }
    if (d.len && touches_foreign(a[0], a[0] + d.len)) {
      refuse("store into memory of the runner itself");
      free(d.bytes);
      return;
    }
    uint8_t *volatile src = d.is_fill ? NULL : d.bytes;
    int sig = sigsetjmp(fault_jmp, 1);
    if (sig == 0) {
      in_access = 1;
      if (d.is_fill) memset((void *)a[0], d.fill, d.len);
      else memcpy((void *)a[0], src, d.len);
      in_access = 0;
      result((long long)d.len);
    } else {
      begin(-1, 0, sig);
      end();
    }
    free(d.bytes);
  } else if (!strcmp(op, "read") || !strcmp(op, "pread")) {
    /* fd length offset */
    NEED(3);
    if (a[1] > CAP_BYTES) {
      refuse("read larger than the helper's cap");
      return;
    }
    uint8_t *buf = malloc(a[1] ? a[1] : 1);
    long r = op[0] == 'p' ? pread((int)a[0], buf, a[1], (off_t)a[2]) : read((int)a[0], buf, a[1]);
    int e = errno;
    begin(r < 0 ? -1 : r, r < 0 ? e : 0, 0);
    if (r >= 0) put_bytes(buf, (uint64_t)r);
    end();
    free(buf);
  } else if (!strcmp(op, "write") || !strcmp(op, "pwrite")) {
    /* fd offset data */
    NEED(2);
    struct data d;
    if (argc < 4 || !parse_data(argv[3], &d)) {
      refuse("bad request: data");
      return;
    }
    if (d.len > CAP_BYTES) {
      refuse("write larger than the helper's cap");
      return;
    }
    uint8_t *b = data_buf(&d);
    long r = op[0] == 'p' ? pwrite((int)a[0], b, d.len, (off_t)a[1]) : write((int)a[0], b, d.len);
    int e = errno;
    if (b != d.bytes) free(b);
    free(d.bytes);
    errno = e;
    result(r);
  } else if (!strcmp(op, "fallocate")) {
    /* fd mode offset len */
    NEED(4);
    result(fallocate((int)a[0], (int)a[1], (off_t)a[2], (off_t)a[3]));
  } else if (!strcmp(op, "ftruncate")) {
    NEED(2);
    result(ftruncate((int)a[0], (off_t)a[1]));
  } else if (!strcmp(op, "fstat")) {
    NEED(1);
    struct stat st;
    long r = fstat((int)a[0], &st);
    int e = errno;
    begin(r, r < 0 ? e : 0, 0);
    if (r == 0) fprintf(out, " st_size=%lld st_blksize=%lld", (long long)st.st_size, (long long)st.st_blksize);
    end();
  } else if (!strcmp(op, "close")) {
    NEED(1);
    result(close((int)a[0]));
  } else if (!strcmp(op, "ioctl_probe")) {
    /* fd request: an ioctl with a zeroed 4 KiB argument (capability probes) */
    NEED(2);
    static uint8_t zero[4096];
    memset(zero, 0, sizeof zero);
    result(ioctl((int)a[0], (unsigned long)a[1], zero));
  } else if (!strcmp(op, "ioctl_nr")) {
    /* the ioctl numbers this helper was built with, for `gmemsim host` */
    begin(0, 0, 0);
    fprintf(out, " KVM_SET_USER_MEMORY_REGION2=%lu KVM_CREATE_GUEST_MEMFD=%lu KVM_SET_MEMORY_ATTRIBUTES=%lu",
            (unsigned long)KVM_SET_USER_MEMORY_REGION2, (unsigned long)KVM_CREATE_GUEST_MEMFD,
            (unsigned long)KVM_SET_MEMORY_ATTRIBUTES);
    fprintf(out, " KVM_PRE_FAULT_MEMORY=%lu KVM_SET_MEMORY_ATTRIBUTES2=%lu", (unsigned long)KVM_PRE_FAULT_MEMORY,
            (unsigned long)KVM_SET_MEMORY_ATTRIBUTES2);
    end();
  } else {
    refuse("unknown request");
  }
#undef NEED
}

int main(int argc, char **argv) {
  /* argv[1]: the KVM device (default /dev/kvm) */
  const char *dev = argc > 1 ? argv[1] : "/dev/kvm";
  out = stdout;
  /* the only fds are the protocol pipes (0, 1), stderr (2), then /dev/kvm (3) and a stand-in for
   * /dev/sev (4): the model's own numbering, so the fds a scenario creates get the same numbers */
  for (int fd = 3; fd < 1024; fd++) close(fd);
  kvm_fd = open(dev, O_RDWR | O_CLOEXEC);
  if (kvm_fd < 0) {
    fprintf(out, "! cannot open %s: %s\n", dev, strerror(errno));
    fflush(out);
    return 2;
  }
  int sev_standin = open("/dev/null", O_RDWR | O_CLOEXEC);
  (void)sev_standin;

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_fault;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_NODEFER;
  sigaction(SIGBUS, &sa, NULL);
  sigaction(SIGSEGV, &sa, NULL);
  /* a write to a closed pipe is an EPIPE result, not a death */
  signal(SIGPIPE, SIG_IGN);

  fprintf(out, "gmemsim-kvm-helper 1 kvm_fd=%d\n", kvm_fd);
  fflush(out);

  size_t cap = 0;
  char *line = NULL;
  ssize_t len;
  static char *toks[MAX_ARGS + 1];
  while ((len = getline(&line, &cap, stdin)) > 0) {
    int nt = 0;
    for (char *save = NULL, *t = strtok_r(line, " \t\r\n", &save); t && nt < MAX_ARGS;
         t = strtok_r(NULL, " \t\r\n", &save))
      toks[nt++] = t;
    if (nt == 0) continue;
    if (!strcmp(toks[0], "quit")) break;
    handle(nt, toks);
  }
  free(line);
  return 0;
}
