/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Running code at CPL 3.  A software KVM emulates a guest's ring-0 code
 * instruction by instruction but runs ring 3 natively, so the workloads
 * that measure the cards run there: every page of the first 4 GiB user
 * accessible (RAM, queues and the device BARs alike), interrupts left
 * disabled (the drivers poll), and a TSS so exceptions still reach the
 * kernel's handlers on a kernel stack.  Port I/O stays in ring 0: a
 * software KVM may refuse IN/OUT at CPL 3 whatever IOPL says, so user code
 * reaches the console and PCI configuration through user_kcall.
 */
#ifndef CVG_USER_H
#define CVG_USER_H

/* The segment selectors user.c's GDT adds after entry.S's three. */
#define USER_DS  0x20
#define USER_CS  0x28
#define USER_TSS 0x30

#ifndef __ASSEMBLER__

/* Calls fn(arg) at CPL 3 and returns what it returns.  BSP only. */
int user_run(int (*fn)(const char *), const char *arg);

/* The privilege level the caller runs at, as user_run and the gate track it. */
unsigned int user_cpl(void);

/*
 * fn(arg) at CPL 0, from either level.  The gate trusts its caller: the
 * test guest's user code is the same program, not a tenant.
 */
int user_kcall(int (*fn)(void *), void *arg);

/* kprintf from either level: formats here, writes through user_kcall. */
void report(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif /* __ASSEMBLER__ */
#endif /* CVG_USER_H */
