// MD5 of decoded pictures in output order, although the compositor releases
// them (and so hands them to the hasher) out of order.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

struct AVMD5;

namespace firefox_client {

class OutputOrderHasher {
 public:
  struct PassDigest {
    uint32_t pass = 0;
    uint64_t frames = 0;
    std::string md5;  // lower-case hex
  };

  OutputOrderHasher();
  ~OutputOrderHasher();
  OutputOrderHasher(const OutputOrderHasher&) = delete;
  OutputOrderHasher& operator=(const OutputOrderHasher&) = delete;

  // `index` counts output pictures from 0 across passes; `pass` is the loop
  // pass the picture belongs to (non-decreasing with index). Returns an error
  // text for a repeated or stale index, empty otherwise.
  std::string Add(uint64_t index, uint32_t pass, std::vector<uint8_t> packed_picture);

  // Hashes what is still pending and closes the current pass. Returns an
  // error text if an index is missing.
  std::string Finish();

  const std::vector<PassDigest>& passes() const { return passes_; }
  // Also keep the MD5 of every picture, in output order.
  void KeepFrameDigests() { keep_frame_digests_ = true; }
  const std::vector<std::string>& frame_digests() const { return frame_digests_; }
  size_t pending() const { return pending_.size(); }

 private:
  struct Pending {
    uint32_t pass;
    std::vector<uint8_t> bytes;
  };
  void HashReady();
  void ClosePass();
  static std::string DigestOf(const std::vector<uint8_t>& bytes);

  struct Md5Deleter {
    void operator()(AVMD5* md5) const;
  };
  std::unique_ptr<AVMD5, Md5Deleter> md5_;
  std::map<uint64_t, Pending> pending_;
  uint64_t next_index_ = 0;
  uint32_t current_pass_ = 0;
  uint64_t frames_in_pass_ = 0;
  std::vector<PassDigest> passes_;
  bool keep_frame_digests_ = false;
  std::vector<std::string> frame_digests_;
};

}  // namespace firefox_client
