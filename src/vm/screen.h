/* screen.h - a VM's screen (screen.c): screendumps and the VNC socket. */
#pragma once

#include "vm.h"

#define VM_SCREENSHOT_MAX (64 * 1024 * 1024)	/* bytes of PNG */
#define VM_SCREENSHOT_TIMEOUT_MS 30000

/* Called once: png (len bytes, borrowed for the call) or, on failure,
 * png NULL and e set. */
typedef void (*vm_screenshot_fn)(void *data, const void *png, size_t len,
    const struct err *e);

/* 0 when vm runs or is paused with QMP up; else -EBUSY naming its state
 * and what (e.g. "a screenshot") needs. */
int vm_screen_check(const struct vm *vm, const char *what, struct err *err);
/* Start a PNG screendump of vm's screen; fn gets it later (also when
 * QEMU goes away meanwhile: an error).  -EBUSY (not running), else -errno;
 * fn is not called when this fails. */
int vm_screenshot(struct vm *vm, vm_screenshot_fn fn, void *data,
    struct err *err);
/* RUN/vnc.sock, where QEMU's VNC server listens.  Caller frees. */
char *vm_vnc_path(const struct vm *vm);
/* Make the VNC socket 0600 (QEMU made it; ternd is root): called once
 * QEMU daemonized. */
void vm_vnc_secure(const struct vm *vm);
