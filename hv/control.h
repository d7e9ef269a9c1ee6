/* SPDX-License-Identifier: Apache-2.0 */
/*
 * cv-hv's control socket: a UNIX stream socket speaking JSON lines, one
 * request object per line and one reply object per line.
 *
 *   {"cmd":"status"}                    -> {"ok":true,"id":..,"state":"running",..}
 *   {"cmd":"stop"[,"timeout_ms":N][,"force":true]}
 *        graceful: Ctrl+Alt+Del to the guest, forced stop after timeout_ms
 *   {"cmd":"pause"} / {"cmd":"resume"}
 *
 * Errors come back as {"ok":false,"error":"..."}; the connection stays open.
 */
#ifndef CV_HV_CONTROL_H
#define CV_HV_CONTROL_H

struct vm;
struct control;

#define CONTROL_STOP_TIMEOUT_MS_DEFAULT 10000

int control_start(struct control **out, struct vm *vm, const char *path);
void control_stop(struct control *ctl);

/* Handle one request line; returns the reply (caller frees). Exposed for tests. */
char *control_handle_request(struct control *ctl, const char *line);

#endif /* CV_HV_CONTROL_H */
