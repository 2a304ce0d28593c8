#include "v4l2/slot_pool.h"

#include <poll.h>
#include <time.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <string>

namespace v4l2va {
namespace {

int64_t now_ms() {
  timespec ts{};
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1000 + ts.tv_nsec / 1000000;
}

}  // namespace

// --- FillingSlot -----------------------------------------------------------

FillingSlot::FillingSlot(FillingSlot&& other) noexcept
    : pool_(other.pool_), slot_(other.take()), used_(other.used_) {}

FillingSlot::~FillingSlot() {
  // Nothing is attached to the request before queue(): giving the slot
  // back needs no ioctl.
  if (slot_) pool_->give_back(*slot_);
}

size_t FillingSlot::capacity() const { return slot_->buffer_.planes[0].size(); }

OutputIndex FillingSlot::output_index() const { return slot_->output_index_; }

bool FillingSlot::append(std::span<const uint8_t> prefix, std::span<const uint8_t> bytes) {
  const size_t room = capacity() - used_;
  if (prefix.size() > room || bytes.size() > room - prefix.size()) return false;
  uint8_t* at = slot_->buffer_.planes[0].data() + used_;
  if (!prefix.empty()) std::memcpy(at, prefix.data(), prefix.size());
  if (!bytes.empty()) std::memcpy(at + prefix.size(), bytes.data(), bytes.size());
  used_ += prefix.size() + bytes.size();
  return true;
}

// --- SlotPool --------------------------------------------------------------

SlotPool::SlotPool(const VideoDevice& video, const MediaDevice& media, Queue& output, Queue& capture,
                   PoolEvents& events, int timeout_ms)
    : video_(video), media_(media), output_(output), capture_(capture), events_(events), timeout_ms_(timeout_ms) {}

SlotPool::~SlotPool() = default;

VAStatus SlotPool::create(uint32_t count) {
  uint32_t allocated = 0;
  uint32_t caps = 0;
  if (VAStatus st = output_.request_buffers(count, allocated, &caps); st != VA_STATUS_SUCCESS) return st;
  // Stateless decoders require requests on OUTPUT
  // (Documentation/userspace-api/media/v4l/dev-stateless-decoder.rst).
  if (!(caps & V4L2_BUF_CAP_SUPPORTS_REQUESTS)) {
    video_.log().errorf("%s: OUTPUT queue does not support requests (V4L2_BUF_CAP_SUPPORTS_REQUESTS unset)",
                        video_.path().c_str());
    return VA_STATUS_ERROR_OPERATION_FAILED;
  }
  if (allocated == 0) {
    video_.log().errorf("VIDIOC_REQBUFS on %s (OUTPUT queue) gave no buffers", video_.path().c_str());
    return VA_STATUS_ERROR_ALLOCATION_FAILED;
  }
  for (uint32_t i = 0; i < allocated; ++i) {
    auto slot = std::make_unique<RequestSlot>();
    slot->output_index_ = OutputIndex{i};
    if (VAStatus st = output_.map_buffer(i, slot->buffer_); st != VA_STATUS_SUCCESS) return st;
    if (slot->buffer_.planes.size() != 1) {
      video_.log().errorf("%s: OUTPUT buffer %u has %zu planes, expected 1", video_.path().c_str(), i,
                          slot->buffer_.planes.size());
      return VA_STATUS_ERROR_OPERATION_FAILED;
    }
    if (VAStatus st = media_.allocate_request(slot->request_); st != VA_STATUS_SUCCESS) return st;
    slots_.push_back(std::move(slot));
  }
  return VA_STATUS_SUCCESS;
}

Result<FillingSlot> SlotPool::acquire() {
  for (;;) {
    if (video_.gone()) return Failed{VA_STATUS_ERROR_OPERATION_FAILED};
    for (auto& slot : slots_) {
      if (slot->state_ == RequestSlot::State::Free) {
        slot->state_ = RequestSlot::State::Filling;
        return FillingSlot(*this, *slot);
      }
    }
    if (in_flight_.empty()) {
      // Every slot is LOST: each failed both REINIT and re-allocation.
      if (!reported_unusable_)
        video_.log().errorf("%s: no usable request slot: all %zu were lost (REINIT and MEDIA_IOC_REQUEST_ALLOC failed)",
                            video_.path().c_str(), slots_.size());
      reported_unusable_ = true;
      return Failed{VA_STATUS_ERROR_OPERATION_FAILED};
    }
    drain_oldest();  // completes the oldest request, or resets: either way a slot comes back
  }
}

VAStatus SlotPool::set_controls(RequestSlot& slot, const Submission& sub) {
  if (sub.controls.empty()) return VA_STATUS_SUCCESS;
  v4l2_ext_controls ext{};
  // Controls set with REQUEST_VAL are applied when the request runs
  // (Documentation/userspace-api/media/v4l/vidioc-g-ext-ctrls.rst).
  ext.which = V4L2_CTRL_WHICH_REQUEST_VAL;
  ext.request_fd = slot.request_.get();
  ext.count = static_cast<uint32_t>(sub.controls.size());
  ext.controls = sub.controls.data();
  auto what = [&] { return "request of OUTPUT slot " + std::to_string(slot.output_index_.value); };
  if (int err = video_.call(VIDIOC_S_EXT_CTRLS, &ext, "VIDIOC_S_EXT_CTRLS", what)) {
    if (ext.error_idx < sub.controls.size())
      video_.log().errorf("VIDIOC_S_EXT_CTRLS: control 0x%08x was rejected", sub.controls[ext.error_idx].id);
    return status_from_errno(err);
  }
  return VA_STATUS_SUCCESS;
}

Result<uint64_t> SlotPool::queue(FillingSlot&& filling, const Submission& sub) {
  RequestSlot& slot = *filling.take();
  if (VAStatus st = set_controls(slot, sub); st != VA_STATUS_SUCCESS) {
    recycle(slot);  // the request may hold a control handler now: REINIT drops it
    return Failed{st};
  }
  const uint32_t flags = sub.hold_capture ? V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF : 0;
  if (VAStatus st = output_.queue(slot.output_index_.value, static_cast<uint32_t>(filling.size()), sub.timestamp_ns,
                                  slot.request_.get(), flags);
      st != VA_STATUS_SUCCESS) {
    recycle(slot);
    return Failed{st};
  }
  auto what = [&] { return "request of OUTPUT slot " + std::to_string(slot.output_index_.value); };
  if (int err = media_.request_call(slot.request_.get(), MEDIA_REQUEST_IOC_QUEUE, "MEDIA_REQUEST_IOC_QUEUE", what)) {
    // Nothing reached the device: REINIT takes the OUTPUT buffer back out of
    // the request (media-request-ioc-reinit.rst). The CAPTURE buffer is
    // queued only after the request for this reason: a CAPTURE buffer left
    // queued without its job would receive the next picture (m2m takes the
    // first ready CAPTURE buffer) and could only be taken back by a STREAMOFF
    // that cancels every other picture in flight.
    recycle(slot);
    return Failed{status_from_errno(err)};
  }
  slot.state_ = RequestSlot::State::Queued;
  const uint64_t sequence = next_sequence_++;
  in_flight_.push_back(InFlight{&slot, sequence, sub.capture, !sub.hold_capture, sub.timestamp_ns});
  if (sub.queue_capture) {
    if (VAStatus st = capture_.queue(sub.capture.value, 0, sub.timestamp_ns, -1, 0); st != VA_STATUS_SUCCESS) {
      cancel_newest(st);
      return Failed{st};
    }
  }
  return sequence;
}

// The request just queued has no CAPTURE buffer and would take the next
// picture's: let the older requests finish (they have theirs), then cancel
// it alone with an OUTPUT STREAMOFF, which leaves the CAPTURE queue and the
// references in it untouched.
void SlotPool::cancel_newest(VAStatus cause) {
  const InFlight newest = in_flight_.back();
  video_.log().errorf("%s: picture %llu could not queue its CAPTURE buffer (%s); cancelling its request",
                      video_.path().c_str(), static_cast<unsigned long long>(newest.sequence), vaErrorStr(cause));
  while (in_flight_.size() > 1 && in_flight_.front().sequence < newest.sequence) drain_oldest();
  if (in_flight_.empty() || in_flight_.back().sequence != newest.sequence) return;  // a reset took it
  output_.stream_off();
  in_flight_.pop_back();
  completed_through_ = newest.sequence;
  recycle(*newest.slot);
  complete(newest, Completion::Outcome::Lost);
  if (VAStatus st = output_.stream_on(); st != VA_STATUS_SUCCESS)
    video_.log().errorf("%s: OUTPUT queue did not restart after cancelling picture %llu", video_.path().c_str(),
                        static_cast<unsigned long long>(newest.sequence));
}

SlotPool::Wait SlotPool::wait_for(const InFlight& entry, int wait_ms) {
  // A completed request signals POLLPRI on its fd
  // (Documentation/userspace-api/media/mediactl/request-api.rst, "Request completion").
  pollfd pfd{entry.slot->request_.get(), POLLPRI, 0};
  const int64_t deadline = now_ms() + wait_ms;
  for (;;) {
    const int remaining = static_cast<int>(std::max<int64_t>(0, deadline - now_ms()));
    int rc = ::poll(&pfd, 1, remaining);
    if (rc > 0) {
      if (pfd.revents & POLLPRI) return Wait::Complete;
      video_.log().errorf("poll on %s (request of OUTPUT slot %u, picture %llu) returned events 0x%x without POLLPRI",
                          video_.path().c_str(), entry.slot->output_index_.value,
                          static_cast<unsigned long long>(entry.sequence), pfd.revents);
      return Wait::Fault;
    }
    if (rc == 0) return Wait::NotYet;
    if (errno != EINTR) {
      int err = errno;
      video_.log().errorf("poll on %s (request of OUTPUT slot %u) failed: %s (errno %d)", video_.path().c_str(),
                          entry.slot->output_index_.value, std::strerror(err), err);
      return Wait::Fault;
    }
  }
}

void SlotPool::drain_oldest() {
  const InFlight& entry = in_flight_.front();
  switch (wait_for(entry, timeout_ms_)) {
    case Wait::Complete:
      finish_oldest();
      return;
    case Wait::NotYet:
      video_.log().errorf("%s: request of OUTPUT slot %u (picture %llu) did not complete within %d ms",
                          video_.path().c_str(), entry.slot->output_index_.value,
                          static_cast<unsigned long long>(entry.sequence), timeout_ms_);
      reset("the device did not complete a request in time");
      return;
    case Wait::Fault:
      reset("waiting for a request failed");
      return;
  }
}

// The oldest request has completed: its buffers come back in job order.
void SlotPool::finish_oldest() {
  const InFlight entry = in_flight_.front();
  Completion::Outcome outcome = Completion::Outcome::Decoded;
  if (entry.expects_capture) {
    // The m2m framework returns the CAPTURE buffer before the OUTPUT buffer
    // that completes the request (v4l2_m2m_buf_done_and_job_finish), so it
    // is ready now, and it is the one this request decoded into.
    Queue::Dequeued got = capture_.dequeue();
    if (got.error) {
      video_.log().errorf("%s: no CAPTURE buffer to dequeue for completed picture %llu (errno %d)",
                          video_.path().c_str(), static_cast<unsigned long long>(entry.sequence), got.error);
      reset("a completed picture's CAPTURE buffer could not be dequeued");
      return;
    }
    if (got.buffer.index != entry.capture.value || got.buffer.timestamp_ns != entry.timestamp_ns) {
      video_.log().errorf("%s: dequeued CAPTURE buffer %u (ts %llu) but expected buffer %u (ts %llu)",
                          video_.path().c_str(), got.buffer.index,
                          static_cast<unsigned long long>(got.buffer.timestamp_ns), entry.capture.value,
                          static_cast<unsigned long long>(entry.timestamp_ns));
      reset("the CAPTURE queue is out of step with the requests");
      return;
    }
    if (got.buffer.flags & V4L2_BUF_FLAG_ERROR) outcome = Completion::Outcome::Flagged;
  }
  Queue::Dequeued out = output_.dequeue();
  if (out.error || out.buffer.index != entry.slot->output_index_.value) {
    if (!out.error)
      video_.log().errorf("%s: dequeued OUTPUT buffer %u but expected slot %u", video_.path().c_str(),
                          out.buffer.index, entry.slot->output_index_.value);
    reset("a completed request's OUTPUT buffer could not be dequeued");
    return;
  }
  if (out.buffer.flags & V4L2_BUF_FLAG_ERROR) outcome = Completion::Outcome::Flagged;
  in_flight_.pop_front();
  completed_through_ = entry.sequence;
  recycle(*entry.slot);
  complete(entry, outcome);
}

void SlotPool::complete(const InFlight& entry, Completion::Outcome outcome) {
  Completion done;
  done.sequence = entry.sequence;
  done.capture = entry.capture;
  done.timestamp_ns = entry.timestamp_ns;
  done.last_of_picture = entry.expects_capture;
  done.outcome = outcome;
  events_.request_completed(done);
}

// STREAMOFF on both queues returns every buffer and completes every queued
// request (videobuf2-core.c, __vb2_queue_cancel -> buf_request_complete),
// so afterwards every slot can be re-initialised and both queues restart
// empty. The pictures in flight are lost, and so are the CAPTURE buffers'
// timestamps.
void SlotPool::reset(const char* why) {
  video_.log().errorf("%s: %s; resetting both queues (%zu request(s) in flight are lost)", video_.path().c_str(),
                      why, in_flight_.size());
  const bool output_streaming = output_.streaming();
  const bool capture_streaming = capture_.streaming();
  output_.stream_off();
  capture_.stream_off();
  std::deque<InFlight> lost;
  lost.swap(in_flight_);
  completed_through_ = next_sequence_ - 1;
  for (const InFlight& entry : lost) recycle(*entry.slot);
  for (const InFlight& entry : lost) complete(entry, Completion::Outcome::Lost);
  events_.capture_timestamps_lost();
  if (video_.gone()) {
    video_.log().errorf("%s: the device is gone (ENODEV); this context cannot decode any more", video_.path().c_str());
    return;
  }
  if (output_streaming) output_.stream_on();
  if (capture_streaming) capture_.stream_on();
}

void SlotPool::collect_completed() {
  while (!in_flight_.empty()) {
    pollfd pfd{in_flight_.front().slot->request_.get(), POLLPRI, 0};
    if (::poll(&pfd, 1, 0) != 1 || !(pfd.revents & POLLPRI)) return;
    finish_oldest();
  }
}

SlotPool::Drain SlotPool::drain_through(uint64_t sequence, int client_wait_ms) {
  const int64_t client_deadline = client_wait_ms >= 0 ? now_ms() + client_wait_ms : 0;
  while (!in_flight_.empty() && in_flight_.front().sequence <= sequence) {
    if (client_wait_ms < 0) {
      drain_oldest();
      continue;
    }
    // The client's bound: running out of it is no fault of the device.
    const int64_t client_left = client_deadline - now_ms();
    const bool client_bound = client_left < timeout_ms_;
    const int wait_ms = static_cast<int>(std::max<int64_t>(0, std::min<int64_t>(client_left, timeout_ms_)));
    switch (wait_for(in_flight_.front(), wait_ms)) {
      case Wait::Complete:
        finish_oldest();
        break;
      case Wait::NotYet:
        if (client_bound) return Drain::ClientTimeout;
        reset("the device did not complete a request in time");
        break;
      case Wait::Fault:
        reset("waiting for a request failed");
        break;
    }
  }
  return video_.gone() ? Drain::DeviceGone : Drain::Done;
}

// A request is re-initialised after each use (media-request-ioc-reinit.rst).
// One that refuses is replaced, once, by a new request for the same slot.
void SlotPool::recycle(RequestSlot& slot) {
  auto what = [&] { return "request of OUTPUT slot " + std::to_string(slot.output_index_.value); };
  if (media_.request_call(slot.request_.get(), MEDIA_REQUEST_IOC_REINIT, "MEDIA_REQUEST_IOC_REINIT", what) == 0 ||
      rebuild(slot)) {
    slot.state_ = RequestSlot::State::Free;
    return;
  }
  slot.state_ = RequestSlot::State::Lost;
  video_.log().errorf("%s: OUTPUT slot %u is out of service (its request could not be re-initialised or replaced)",
                      video_.path().c_str(), slot.output_index_.value);
}

bool SlotPool::rebuild(RequestSlot& slot) {
  if (video_.gone()) return false;
  UniqueFd fresh;
  if (media_.allocate_request(fresh) != VA_STATUS_SUCCESS) return false;
  // Closing the old fd is safe even if the kernel still holds the request:
  // a request lives until its last reference goes (media-request.c).
  slot.request_ = std::move(fresh);
  video_.log().infof("%s: OUTPUT slot %u got a new request after REINIT failed", video_.path().c_str(),
                     slot.output_index_.value);
  return true;
}

}  // namespace v4l2va
