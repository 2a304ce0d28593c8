// The request lifecycle, all of it, in one place.
//
// A RequestSlot binds one media request fd to one OUTPUT buffer for the whole
// life of a context; it is reused with MEDIA_REQUEST_IOC_REINIT and is never
// re-paired. A request fd is never allocated per picture: allocating and
// closing a request per frame while OUTPUT buffers were reused loosely is what
// made an earlier driver fail under Firefox (VIDIOC_QBUF EINVAL after 1-60
// frames). See docs/design.md and ../shared/docs/request-lifecycle.md.
//
//   FREE --bind()--> FILLING --queue()--> QUEUED --(POLLPRI)--> done
//     ^                                                            |
//     +---- REINIT <-- DQBUF OUTPUT <-- DQBUF CAPTURE <-- drain() --+
//
// drain() is the only way back to FREE, and it drains in queue order (the
// m2m framework runs jobs in that order).
#pragma once

#include <linux/videodev2.h>
#include <va/va.h>

#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <vector>

#include "v4l2/device.h"
#include "v4l2/queue.h"

namespace v4l2va {

class RequestSlot {
 public:
  enum class State { Free, Filling, Queued };

  OutputIndex output_index() const { return output_index_; }
  State state() const { return state_; }
  int request_fd() const { return request_.get(); }
  uint8_t* bitstream() const { return buffer_.planes[0].data(); }
  size_t bitstream_capacity() const { return buffer_.planes[0].size(); }

 private:
  friend class SlotPool;
  OutputIndex output_index_;
  MappedBuffer buffer_;
  UniqueFd request_;
  State state_ = State::Free;
};

// What one request carries besides the bitstream already written into the
// slot: its controls and the CAPTURE buffer it decodes into.
struct Submission {
  std::vector<v4l2_ext_control> controls;  // set with which = V4L2_CTRL_WHICH_REQUEST_VAL
  uint32_t bytesused = 0;
  CaptureIndex capture;
  bool queue_capture = true;   // false for the 2nd..nth slice of a held CAPTURE buffer
  bool hold_capture = false;   // V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF (slice-based, not the last slice)
  uint64_t timestamp_ns = 0;   // identifies the picture; copied by the kernel to the CAPTURE buffer
};

// What draining one request found.
struct Completion {
  uint64_t sequence = 0;
  CaptureIndex capture;
  bool capture_released = false;  // the CAPTURE buffer was dequeued with this request
  bool error = false;             // V4L2_BUF_FLAG_ERROR on either buffer, or a bookkeeping mismatch
};

using CompletionSink = std::function<void(const Completion&)>;

class SlotPool {
 public:
  SlotPool(const VideoDevice& video, const MediaDevice& media, Queue& output, Queue& capture, int timeout_ms);
  ~SlotPool();
  SlotPool(const SlotPool&) = delete;
  SlotPool& operator=(const SlotPool&) = delete;

  // Allocates `count` OUTPUT buffers (REQBUFS), maps them and allocates one
  // request per buffer. The only MEDIA_IOC_REQUEST_ALLOC calls of a context.
  VAStatus create(uint32_t count);

  // Takes a FREE slot into FILLING. When every slot is in flight the oldest
  // request is drained first: the pool size bounds the pipeline depth.
  VAStatus bind(RequestSlot*& slot, const CompletionSink& sink);

  // Sets the controls in the slot's request, queues the OUTPUT buffer into
  // it, queues the CAPTURE buffer and queues the request. On success the slot
  // is QUEUED and `sequence` names this request for drain_through().
  VAStatus queue(RequestSlot& slot, const Submission& submission, uint64_t& sequence);

  // Gives a FILLING slot back without queueing it (an error before queue()).
  void release_unqueued(RequestSlot& slot);

  // Drains every request queued up to and including `sequence`, in order.
  VAStatus drain_through(uint64_t sequence, const CompletionSink& sink);
  VAStatus drain_all(const CompletionSink& sink);

  // Last sequence number handed out by queue(); 0 before the first.
  uint64_t last_sequence() const { return next_sequence_ - 1; }
  bool completed(uint64_t sequence) const { return sequence <= completed_through_; }
  size_t in_flight() const { return in_flight_.size(); }
  size_t size() const { return slots_.size(); }
  const RequestSlot& slot(size_t i) const { return *slots_[i]; }

 private:
  struct InFlight {
    RequestSlot* slot;
    uint64_t sequence;
    CaptureIndex capture;
    bool expects_capture;  // false while the CAPTURE buffer is held for more slices
    uint64_t timestamp_ns;
  };

  VAStatus drain_oldest(const CompletionSink& sink);
  VAStatus wait_for_completion(const InFlight& entry);
  VAStatus reinit(RequestSlot& slot);

  const VideoDevice& video_;
  const MediaDevice& media_;
  Queue& output_;
  Queue& capture_;
  int timeout_ms_;
  std::vector<std::unique_ptr<RequestSlot>> slots_;
  std::deque<InFlight> in_flight_;
  uint64_t next_sequence_ = 1;
  uint64_t completed_through_ = 0;
};

}  // namespace v4l2va
