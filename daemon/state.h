/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "lease.h"

/* The lease set on disk: $RUNTIME_DIRECTORY/state.json, written whole (tmp + fsync + rename +
 * fsync of the directory) before every transition is acted on, so that the daemon can reconcile
 * after a crash at any point. */

#define STATE_FILE "state.json"
#define STATE_MAX_SIZE (4 * 1024 * 1024)
#define STATE_MAX_LEASES 4096

/* What the file holds besides the leases. */
typedef struct StateGlobals {
        uint64_t next_id;
        bool unsafe_interrupts_set; /* the daemon set allow_unsafe_interrupts and clears it later */
} StateGlobals;

/* Opens (creating it 0700 if missing) the runtime or state directory; -EPERM with a message
 * naming it when it is a symlink, not the daemon user's, or group/other writable. */
int state_open_dir(const char *path, int *ret_fd, char **ret_error);

/* Writes name in dir_fd whole: a new file (".NAME.tmp" first), fsync, rename over the old
 * one, fsync of the directory; a reader sees the old file or the new one, never a part. */
int write_file_atomic_at(int dir_fd, const char *name, const char *text, mode_t mode);
/* The same with mode 0600. */
int state_write_file(int dir_fd, const char *name, const char *text);
/* Reads a JSON file the daemon wrote; -ENOENT when there is none. A file that is no regular
 * file, not the daemon user's or not 0600 is -EPERM, one that is not JSON -EBADMSG, each with a
 * message. */
struct json_object;
int state_read_json(int dir_fd, const char *name, struct json_object **ret, char **ret_error);

int state_save(int dir_fd, Lease *const *leases, size_t n, const StateGlobals *g);
/* Missing file: no leases. A file that cannot be parsed: -EBADMSG with a message; the caller keeps
 * it aside (state.json.corrupt) rather than lose what it said. A file that is not a regular file,
 * not the daemon user's or not 0600 (someone else could have planted it): -EPERM with a message;
 * the caller refuses to start. The same for persistent_load(). A lease's "backend" names its VFIO
 * backend (vfio-backend.h; absent: type1, as every lease was before there were others); a name
 * this daemon does not know is -EPROTONOSUPPORT with a message naming it: the caller refuses to
 * start and leaves the file as it is, since only a daemon that knows the backend can give the
 * group back. */
int state_load(int dir_fd, Lease ***ret, size_t *ret_n, StateGlobals *ret_globals,
               char **ret_error);

/* Persistent prepares: $STATE_DIRECTORY/persistent.json, a list of devices that are bound to
 * vfio-pci at start and whenever they appear. Each records the card it was (its identity,
 * persistent.h): another card at the address is not prepared in its place. Entries written
 * before the subsystem ids and the group were recorded load without them (the *_known flags are
 * false) and are checked on vendor and device alone. */
typedef struct PersistentDevice {
        char address[PCI_ADDRESS_STRLEN];
        uint16_t vendor, device;
        bool subsystem_known;
        uint16_t subsystem_vendor, subsystem_device;
        bool group_known;
        uint32_t group;
        char vfio_driver[64]; /* the VFIO driver it goes to; "" is vfio-pci */
} PersistentDevice;

#define PERSISTENT_FILE "persistent.json"
/* Writes persistent.json and, from the same list, EARLY_PREPARE_FILE (names.h) for the udev rule
 * that sets driver_override before any host driver probes (vfio-assignd(8), EARLY PREPARE): one
 * line per device, "ADDRESS VENDOR DEVICE SUBSYSTEM_VENDOR SUBSYSTEM_DEVICE DRIVER", ids in
 * hex without 0x, "*" for subsystem ids an older file did not record. Both atomically, the
 * early file second: a crash between them leaves the rule an older list, which the daemon
 * corrects at its next write and verifies at start anyway. */
int persistent_save(int dir_fd, const PersistentDevice *d, size_t n);
int persistent_load(int dir_fd, PersistentDevice **ret, size_t *ret_n, char **ret_error);

/* The cards at the addresses policy rules name ("address" without wildcards), as the daemon
 * first found them: $STATE_DIRECTORY/identities.json, the same list of devices as
 * persistent.json (a "vfio_driver" in it means nothing). Another card at such an address is
 * refused (IdentityChanged) until it is accepted (AcceptIdentity). Loads as persistent_load()
 * does. */
#define IDENTITY_FILE "identities.json"
int identities_save(int dir_fd, const PersistentDevice *d, size_t n);
int identities_load(int dir_fd, PersistentDevice **ret, size_t *ret_n, char **ret_error);

/* persistent_load() or identities_load() (name: PERSISTENT_FILE, IDENTITY_FILE) of the state
 * directory at path, for a reader that is not the daemon (--report): the directory is not
 * created, and a missing one holds no devices. Any other failure but -ENOMEM is returned with its
 * reason in *ret_error ("path: reason"), and an empty list. */
int devices_read_dir(const char *path, const char *name, PersistentDevice **ret, size_t *ret_n,
                     char **ret_error);
