// The request lifecycle, all of it, in one place.
//
// A RequestSlot binds one media request fd to one OUTPUT buffer for the whole
// life of a context; it is reused with MEDIA_REQUEST_IOC_REINIT and is never
// re-paired. A request fd is never allocated per picture: allocating and
// closing a request per frame while OUTPUT buffers were reused loosely is what
// made an earlier driver fail under Firefox (VIDIOC_QBUF EINVAL after 1-60
// frames). See docs/design.md and ../shared/docs/request-lifecycle.md.
//
//   FREE --acquire()--> FILLING --queue()--> QUEUED --(POLLPRI)--> done
//     ^                    |                                        |
//     +-- (dropped) -------+                                        |
//     +---- REINIT <-- DQBUF OUTPUT <-- DQBUF CAPTURE <-- drain() --+
//
// FILLING is a value, not a flag: acquire() hands out a move-only FillingSlot
// that queue() consumes and whose destructor gives an unqueued slot back, so
// no path can leave a slot FILLING. drain() is the only way from QUEUED back
// to FREE, in queue order (the m2m framework runs jobs in that order).
//
// Faults end in a known state. A request the kernel would not queue is
// re-initialised and its slot is free again; a request that will not
// re-initialise is replaced by a new one (logged); a wait that exceeds the
// bound, a failed DQBUF or a buffer that is not the expected one resets both
// queues (STREAMOFF/STREAMON), which completes every request in flight as
// lost and tells the owner that the CAPTURE buffers lost their timestamps.
#pragma once

#include <linux/videodev2.h>
#include <va/va.h>

#include <cstdint>
#include <deque>
#include <memory>
#include <span>
#include <vector>

#include "v4l2/device.h"
#include "v4l2/queue.h"
#include "v4l2/result.h"

namespace v4l2va {

class SlotPool;

class RequestSlot {
 public:
  // LOST: neither REINIT nor a new request could make it usable; never bound again.
  enum class State { Free, Filling, Queued, Lost };

  OutputIndex output_index() const { return output_index_; }
  State state() const { return state_; }
  int request_fd() const { return request_.get(); }

 private:
  friend class SlotPool;
  friend class FillingSlot;
  OutputIndex output_index_;
  MappedBuffer buffer_;
  UniqueFd request_;
  State state_ = State::Free;
};

// A slot being filled with one request's bitstream. Move-only: queueing
// consumes it, and dropping it unqueued gives the slot back to the pool.
class FillingSlot {
 public:
  FillingSlot(FillingSlot&& other) noexcept;
  FillingSlot(const FillingSlot&) = delete;
  FillingSlot& operator=(const FillingSlot&) = delete;
  FillingSlot& operator=(FillingSlot&&) = delete;
  ~FillingSlot();

  // Appends `prefix` then `bytes` to the OUTPUT buffer, straight into its
  // mapping. Writes nothing and returns false when both do not fit.
  bool append(std::span<const uint8_t> prefix, std::span<const uint8_t> bytes);
  size_t size() const { return used_; }
  size_t capacity() const;
  OutputIndex output_index() const;

 private:
  friend class SlotPool;
  FillingSlot(SlotPool& pool, RequestSlot& slot) : pool_(&pool), slot_(&slot) {}
  RequestSlot* take() { return std::exchange(slot_, nullptr); }

  SlotPool* pool_;
  RequestSlot* slot_;
  size_t used_ = 0;
};

// What one request carries besides its bitstream: its controls and the
// CAPTURE buffer it decodes into.
struct Submission {
  std::span<v4l2_ext_control> controls;  // set with which = V4L2_CTRL_WHICH_REQUEST_VAL
  CaptureIndex capture;
  bool queue_capture = true;  // false for the 2nd..nth slice of a held CAPTURE buffer
  bool hold_capture = false;  // V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF (slice-based, not the last slice)
  uint64_t timestamp_ns = 0;  // identifies the picture; copied by the kernel to the CAPTURE buffer
};

// How one request ended.
struct Completion {
  enum class Outcome {
    Decoded,  // done, no error flag
    Flagged,  // done with V4L2_BUF_FLAG_ERROR: the device decoded with errors
    Lost,     // never decoded: cancelled by a queue reset, or failed after it was queued
  };
  uint64_t sequence = 0;
  CaptureIndex capture;
  uint64_t timestamp_ns = 0;
  // The last request of its picture: the one that gives the CAPTURE buffer
  // back (all but the last slice of a slice-based picture hold it).
  bool last_of_picture = true;
  Outcome outcome = Outcome::Decoded;
};

// What the owner of a pool hears from it.
class PoolEvents {
 public:
  virtual ~PoolEvents() = default;
  virtual void request_completed(const Completion& done) = 0;
  // Both queues were reset: STREAMOFF clears every CAPTURE buffer's copied
  // timestamp (videobuf2-core.c, __vb2_queue_cancel), so no picture decoded
  // so far can be named as a reference any more.
  virtual void capture_timestamps_lost() = 0;
};

class SlotPool {
 public:
  SlotPool(const VideoDevice& video, const MediaDevice& media, Queue& output, Queue& capture, PoolEvents& events,
           int timeout_ms);
  ~SlotPool();
  SlotPool(const SlotPool&) = delete;
  SlotPool& operator=(const SlotPool&) = delete;

  // Allocates `count` OUTPUT buffers (REQBUFS), maps them and allocates one
  // request per buffer: the only MEDIA_IOC_REQUEST_ALLOC calls of a context
  // that meets no fault.
  VAStatus create(uint32_t count);

  // Takes a FREE slot. When every slot is in flight the oldest request is
  // drained first: the pool size bounds the pipeline depth.
  Result<FillingSlot> acquire();

  // Sets the controls in the slot's request, queues the OUTPUT buffer into
  // it, queues the request, then the CAPTURE buffer. On success the request
  // is in flight and the returned sequence number names it. On failure
  // nothing of this request is left with the kernel.
  Result<uint64_t> queue(FillingSlot&& slot, const Submission& submission);

  // Drains every request queued up to and including `sequence`, in order.
  // `client_wait_ms` >= 0 bounds the wait as the client asked
  // (vaSyncSurface2); the pool's own bound still applies to each request.
  enum class Drain { Done, ClientTimeout, DeviceGone };
  Drain drain_through(uint64_t sequence, int client_wait_ms = -1);
  Drain drain_all() { return drain_through(next_sequence_ - 1); }
  // Gives up a slice-based picture whose first slices are queued but whose
  // last cannot be: they hold the CAPTURE buffer, which only a reset of both
  // queues returns.
  void abandon_picture(const char* why) { reset(why); }
  // Drains, without waiting, the requests that have already completed.
  void collect_completed();

  bool completed(uint64_t sequence) const { return sequence <= completed_through_; }
  bool device_gone() const { return video_.gone(); }
  size_t in_flight() const { return in_flight_.size(); }
  size_t size() const { return slots_.size(); }
  const RequestSlot& slot(size_t i) const { return *slots_[i]; }

 private:
  friend class FillingSlot;
  struct InFlight {
    RequestSlot* slot;
    uint64_t sequence;
    CaptureIndex capture;
    bool expects_capture;  // false while the CAPTURE buffer is held for more slices
    uint64_t timestamp_ns;
  };
  enum class Wait { Complete, NotYet, Fault };

  void give_back(RequestSlot& slot) { slot.state_ = RequestSlot::State::Free; }
  VAStatus set_controls(RequestSlot& slot, const Submission& submission);
  Wait wait_for(const InFlight& entry, int wait_ms);
  void drain_oldest();
  void finish_oldest();
  void complete(const InFlight& entry, Completion::Outcome outcome);
  void cancel_newest(VAStatus cause);
  void reset(const char* why);
  void recycle(RequestSlot& slot);
  bool rebuild(RequestSlot& slot);

  const VideoDevice& video_;
  const MediaDevice& media_;
  Queue& output_;
  Queue& capture_;
  PoolEvents& events_;
  int timeout_ms_;
  std::vector<std::unique_ptr<RequestSlot>> slots_;
  std::deque<InFlight> in_flight_;
  uint64_t next_sequence_ = 1;
  uint64_t completed_through_ = 0;
  bool reported_unusable_ = false;
};

}  // namespace v4l2va
