// What "flat from start to end" is measured with: open descriptors and
// resident memory of this process.
#pragma once

#include <cstdint>

namespace firefox_client {

// Entries of /proc/self/fd, not counting the descriptor used to list them.
int CountOpenFds();

// VmRSS from /proc/self/status, in kB; -1 if it cannot be read.
int64_t ResidentSetKb();

}  // namespace firefox_client
