#include "output_hasher.h"

extern "C" {
#include <libavutil/md5.h>
#include <libavutil/mem.h>
}

#include <cstdio>
#include <stdexcept>

namespace firefox_client {

void OutputOrderHasher::Md5Deleter::operator()(AVMD5* md5) const { av_free(md5); }

OutputOrderHasher::OutputOrderHasher() : md5_(av_md5_alloc()) {
  if (!md5_) throw std::bad_alloc();
  av_md5_init(md5_.get());
}

OutputOrderHasher::~OutputOrderHasher() = default;

std::string OutputOrderHasher::Add(uint64_t index, uint32_t pass, std::vector<uint8_t> packed_picture) {
  if (index < next_index_ || pending_.contains(index))
    return "output picture " + std::to_string(index) + " handed to the hasher twice";
  pending_.emplace(index, Pending{pass, std::move(packed_picture)});
  HashReady();
  return {};
}

void OutputOrderHasher::HashReady() {
  for (auto next = pending_.find(next_index_); next != pending_.end(); next = pending_.find(next_index_)) {
    if (next->second.pass != current_pass_) {
      ClosePass();
      current_pass_ = next->second.pass;
    }
    av_md5_update(md5_.get(), next->second.bytes.data(), next->second.bytes.size());
    if (keep_frame_digests_) frame_digests_.push_back(DigestOf(next->second.bytes));
    ++frames_in_pass_;
    pending_.erase(next);
    ++next_index_;
  }
}

namespace {

std::string HexOf(const uint8_t (&digest)[16]) {
  char hex[33];
  for (int i = 0; i < 16; ++i) std::snprintf(hex + 2 * i, 3, "%02x", digest[i]);
  return hex;
}

}  // namespace

std::string OutputOrderHasher::DigestOf(const std::vector<uint8_t>& bytes) {
  uint8_t digest[16];
  av_md5_sum(digest, bytes.data(), bytes.size());
  return HexOf(digest);
}

void OutputOrderHasher::ClosePass() {
  if (frames_in_pass_ == 0) return;
  uint8_t digest[16];
  av_md5_final(md5_.get(), digest);
  passes_.push_back({current_pass_, frames_in_pass_, HexOf(digest)});
  frames_in_pass_ = 0;
  av_md5_init(md5_.get());
}

std::string OutputOrderHasher::Finish() {
  HashReady();
  std::string error;
  if (!pending_.empty())
    error = "output picture " + std::to_string(next_index_) + " never reached the hasher (" +
            std::to_string(pending_.size()) + " later pictures waiting)";
  ClosePass();
  return error;
}

}  // namespace firefox_client
