#include "pg/actor.hpp"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bemi/json_escape.hpp"
#include "bemi/siphash.hpp"
#include "pg/settings.hpp"
#include "pg/string_info_sink.hpp"

namespace bemi_pg {

namespace {

// Domain separation: this key signs nothing else, and a later layout gets a new tag.
constexpr char kMacDomain[] = "bemi-actor-v1";

// Read once per process; backends forked from a postmaster that prepared it inherit it.
enum class KeyState { Unknown, Ready, Unavailable };
KeyState key_state = KeyState::Unknown;
uint8 key_bytes[bemi::SipHash128::kKeyBytes];
static_assert(kActorKeyBytes == bemi::SipHash128::kKeyBytes, "the key file holds one SipHash key");
static_assert(kActorMacHexBytes == 2 * bemi::SipHash128::kTagBytes, "hex of one tag");

// What went wrong, for the one WARNING a process logs; empty when nothing did.
char key_problem[256];

void key_path(char *path, size_t size) {
    snprintf(path, size, "%s/%s", DataDir, kActorKeyFile);
}

enum class ReadResult { Ok, Missing, Broken };

ReadResult read_key(const char *path) {
    int fd = open(path, O_RDONLY | PG_BINARY, 0);
    if (fd < 0) {
        if (errno == ENOENT)
            return ReadResult::Missing;
        snprintf(key_problem, sizeof key_problem, "could not open \"%s\": %s", path, strerror(errno));
        return ReadResult::Broken;
    }
    struct stat st;
    ssize_t got = -1;
    uint8 extra;
    if (fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_size == kActorKeyBytes) {
        got = read(fd, key_bytes, kActorKeyBytes);
        if (got == kActorKeyBytes && read(fd, &extra, 1) != 0)
            got = -1;
    }
    close(fd);
    if (got != kActorKeyBytes) {
        snprintf(key_problem, sizeof key_problem, "\"%s\" is not a regular file of %d bytes", path, kActorKeyBytes);
        return ReadResult::Broken;
    }
    return ReadResult::Ok;
}

// Written under a temporary name and linked into place, so that a reader never sees half a
// key and two processes creating it at once end up with the same one.
bool create_key(const char *path) {
    uint8 fresh[kActorKeyBytes];
    if (!pg_strong_random(fresh, sizeof fresh)) {
        snprintf(key_problem, sizeof key_problem, "could not generate random bytes");
        return false;
    }
    char temp[MAXPGPATH];
    snprintf(temp, sizeof temp, "%s.%d.tmp", path, static_cast<int>(getpid()));
    int fd = open(temp, O_WRONLY | O_CREAT | O_EXCL | PG_BINARY, S_IRUSR | S_IWUSR);
    if (fd < 0) {
        snprintf(key_problem, sizeof key_problem, "could not create \"%s\": %s", temp, strerror(errno));
        return false;
    }
    const bool written = write(fd, fresh, sizeof fresh) == static_cast<ssize_t>(sizeof fresh) && fsync(fd) == 0;
    const int write_errno = errno;
    close(fd);
    bool linked = false;
    if (written) {
        linked = link(temp, path) == 0 || errno == EEXIST;
        if (!linked)
            snprintf(key_problem, sizeof key_problem, "could not link \"%s\": %s", path, strerror(errno));
    } else {
        snprintf(key_problem, sizeof key_problem, "could not write \"%s\": %s", temp, strerror(write_errno));
    }
    unlink(temp);
    if (linked) {
        int dir = open(DataDir, O_RDONLY, 0);
        if (dir >= 0) {
            (void)fsync(dir);
            close(dir);
        }
    }
    explicit_bzero(fresh, sizeof fresh);
    return linked;
}

bool load_key() {
    if (key_state != KeyState::Unknown)
        return key_state == KeyState::Ready;
    char path[MAXPGPATH];
    key_path(path, sizeof path);
    key_problem[0] = '\0';
    ReadResult result = read_key(path);
    if (result == ReadResult::Missing && create_key(path))
        result = read_key(path);
    key_state = result == ReadResult::Ok ? KeyState::Ready : KeyState::Unavailable;
    if (key_state == KeyState::Unavailable)
        ereport(WARNING, (errmsg("bemi: changes are recorded without their actor: %s",
                                 key_problem[0] ? key_problem : "the key file is missing"),
                          errhint("The server's OS user must be able to create and read \"%s\" in the data "
                                  "directory; restart the server after fixing it.",
                                  kActorKeyFile)));
    return key_state == KeyState::Ready;
}

void append_role(StringInfo out, Oid role) {
    const char *name = GetUserNameFromId(role, true);
    if (name == nullptr) {
        append_literal(out, "null"); // dropped by another session meanwhile
        return;
    }
    StringInfoSink sink{out};
    bemi::append_json_string(sink, name, strlen(name));
}

// The client's address exactly as inet_client_addr() gives it (libpq-be.h, where the port
// is, needs the GSSAPI headers); null for Unix sockets and background processes.
const char *client_address() {
    LOCAL_FCINFO(fcinfo, 0);
    InitFunctionCallInfoData(*fcinfo, nullptr, 0, InvalidOid, nullptr, nullptr);
    Datum address = inet_client_addr(fcinfo);
    if (fcinfo->isnull)
        return nullptr;
    return DatumGetCString(DirectFunctionCall1(inet_out, address));
}

bool compute_mac(uint64 full_xid, Oid database, const char *actor, size_t actor_len,
                 uint8 (&tag)[bemi::SipHash128::kTagBytes]) {
    if (!load_key())
        return false;
    uint8 head[sizeof kMacDomain + 8 + 4];
    memcpy(head, kMacDomain, sizeof kMacDomain); // with its NUL: the tag cannot run into the id
    uint8 *p = head + sizeof kMacDomain;
    for (int shift = 56; shift >= 0; shift -= 8)
        *p++ = static_cast<uint8>(full_xid >> shift);
    for (int shift = 24; shift >= 0; shift -= 8)
        *p++ = static_cast<uint8>(database >> shift);
    bemi::SipHash128 mac(key_bytes);
    mac.update(head, sizeof head);
    mac.update(actor, actor_len); // the actor is the last field: its length needs no prefix
    mac.finish(tag);
    return true;
}

} // namespace

void actor_key_prepare() {
    (void)load_key();
}

void append_session_actor(StringInfo out) {
    const Oid session_user = GetSessionUserId();
    const Oid current_user = GetUserId();
    append_literal(out, "{\"session_user\":");
    append_role(out, session_user);
    if (current_user != session_user) {
        append_literal(out, ",\"current_user\":");
        append_role(out, current_user);
    }
    append_literal(out, ",\"application_name\":");
    const char *app = application_name ? application_name : "";
    StringInfoSink sink{out};
    bemi::append_json_string(sink, app, strlen(app));
    const char *host = capture_client_addr ? client_address() : nullptr;
    if (host) {
        append_literal(out, ",\"client_addr\":");
        bemi::append_json_string(sink, host, strlen(host));
    }
    append_char(out, '}');
}

bool actor_mac(uint64 full_xid, Oid database, const char *actor, size_t actor_len, char *hex) {
    uint8 digest[bemi::SipHash128::kTagBytes];
    if (!compute_mac(full_xid, database, actor, actor_len, digest))
        return false;
    static const char kDigits[] = "0123456789abcdef";
    for (size_t i = 0; i < sizeof digest; ++i) {
        hex[2 * i] = kDigits[digest[i] >> 4];
        hex[2 * i + 1] = kDigits[digest[i] & 0xf];
    }
    hex[kActorMacHexBytes] = '\0';
    return true;
}

bool actor_mac_matches(uint64 full_xid, Oid database, const char *actor, size_t actor_len, const char *mac_hex) {
    char expected[kActorMacHexBytes + 1];
    if (!actor_mac(full_xid, database, actor, actor_len, expected))
        return false;
    unsigned char diff = 0;
    for (int i = 0; i < kActorMacHexBytes; ++i)
        diff |= static_cast<unsigned char>(expected[i] ^ mac_hex[i]);
    return diff == 0;
}

} // namespace bemi_pg
