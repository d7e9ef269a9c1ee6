/* SPDX-License-Identifier: Apache-2.0 */
/*
 * Where the guest's serial console goes: the terminal cv-hv runs in, a file,
 * or a UNIX socket that `cardvisor console` (or socat) attaches to.  Input
 * comes from the terminal and from the attached socket client.  On a
 * terminal, Ctrl-A x stops the VM (Ctrl-A Ctrl-A sends a Ctrl-A).
 */
#ifndef CV_HV_CONSOLE_H
#define CV_HV_CONSOLE_H

#include <stddef.h>
#include <stdint.h>

struct console;
struct vm;

/* Accepts up to @len bytes of guest input; returns how many it took. */
typedef size_t (*console_rx_fn)(void *opaque, const uint8_t *buf, size_t len);

/*
 * @spec: "stdio" (default), "file:PATH", "socket:PATH" or "none".  Unless
 * @spec names a socket itself, the console is also served on @attach_path
 * (may be NULL), where `cardvisor console` attaches; a client that attaches
 * first receives the last 64 KiB of output.
 */
int console_open(struct console **out, const char *spec, const char *attach_path);
void console_write(struct console *con, const uint8_t *buf, size_t len);
/* Start delivering input; @vm is stopped on the terminal escape. */
int console_start(struct console *con, struct vm *vm, console_rx_fn rx, void *opaque);
void console_close(struct console *con);

#endif /* CV_HV_CONSOLE_H */
