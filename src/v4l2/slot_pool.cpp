#include "v4l2/slot_pool.h"

#include <poll.h>

#include <cerrno>
#include <cstring>
#include <string>

namespace v4l2va {

SlotPool::SlotPool(const VideoDevice& video, const MediaDevice& media, Queue& output, Queue& capture, int timeout_ms)
    : video_(video), media_(media), output_(output), capture_(capture), timeout_ms_(timeout_ms) {}

SlotPool::~SlotPool() {
  // Requests still queued complete or are cancelled by STREAMOFF, which the
  // owning context issues before destroying the pool; the request fds and
  // mappings are then released by their owners.
  for (auto& slot : slots_) slot->buffer_.planes.clear();
}

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

VAStatus SlotPool::bind(RequestSlot*& out, const CompletionSink& sink) {
  out = nullptr;
  if (slots_.empty()) return VA_STATUS_ERROR_OPERATION_FAILED;
  for (;;) {
    for (auto& slot : slots_) {
      if (slot->state_ == RequestSlot::State::Free) {
        slot->state_ = RequestSlot::State::Filling;
        out = slot.get();
        return VA_STATUS_SUCCESS;
      }
    }
    if (in_flight_.empty()) {
      video_.log().errorf("%s: no free request slot and none in flight (a slot was left FILLING)",
                          video_.path().c_str());
      return VA_STATUS_ERROR_OPERATION_FAILED;
    }
    if (VAStatus st = drain_oldest(sink); st != VA_STATUS_SUCCESS) return st;
  }
}

VAStatus SlotPool::queue(RequestSlot& slot, const Submission& sub, uint64_t& sequence) {
  if (slot.state_ != RequestSlot::State::Filling) {
    video_.log().errorf("%s: slot %u queued while not FILLING", video_.path().c_str(), slot.output_index_.value);
    return VA_STATUS_ERROR_OPERATION_FAILED;
  }
  const std::string object = "request of OUTPUT slot " + std::to_string(slot.output_index_.value);

  if (!sub.controls.empty()) {
    std::vector<v4l2_ext_control> controls = sub.controls;
    v4l2_ext_controls ext{};
    // Controls set with REQUEST_VAL are applied when the request runs
    // (Documentation/userspace-api/media/v4l/vidioc-g-ext-ctrls.rst).
    ext.which = V4L2_CTRL_WHICH_REQUEST_VAL;
    ext.request_fd = slot.request_.get();
    ext.count = static_cast<uint32_t>(controls.size());
    ext.controls = controls.data();
    if (int err = video_.call(VIDIOC_S_EXT_CTRLS, &ext, "VIDIOC_S_EXT_CTRLS", object)) {
      if (ext.error_idx < controls.size())
        video_.log().errorf("VIDIOC_S_EXT_CTRLS: control 0x%08x was rejected", controls[ext.error_idx].id);
      release_unqueued(slot);
      return status_from_errno(err);
    }
  }

  const uint32_t bytesused[1] = {sub.bytesused};
  uint32_t flags = sub.hold_capture ? V4L2_BUF_FLAG_M2M_HOLD_CAPTURE_BUF : 0;
  if (VAStatus st = output_.queue(slot.output_index_.value, bytesused, sub.timestamp_ns, slot.request_.get(), flags);
      st != VA_STATUS_SUCCESS) {
    release_unqueued(slot);
    return st;
  }
  if (sub.queue_capture) {
    if (VAStatus st = capture_.queue(sub.capture.value, nullptr, sub.timestamp_ns, -1, 0); st != VA_STATUS_SUCCESS) {
      release_unqueued(slot);  // REINIT also takes the OUTPUT buffer back out of the request
      return st;
    }
  }
  if (int err = xioctl(slot.request_.get(), MEDIA_REQUEST_IOC_QUEUE, nullptr)) {
    video_.log().errorf("MEDIA_REQUEST_IOC_QUEUE on %s (%s) failed: %s (errno %d)", video_.path().c_str(),
                        object.c_str(), std::strerror(err), err);
    release_unqueued(slot);
    if (sub.queue_capture) {
      // The CAPTURE buffer is queued with no job for it: take it back so the
      // next picture does not decode into it.
      capture_.stream_off();
      capture_.stream_on();
    }
    return status_from_errno(err);
  }
  slot.state_ = RequestSlot::State::Queued;
  sequence = next_sequence_++;
  in_flight_.push_back(InFlight{&slot, sequence, sub.capture, !sub.hold_capture, sub.timestamp_ns});
  return VA_STATUS_SUCCESS;
}

void SlotPool::release_unqueued(RequestSlot& slot) {
  reinit(slot);
  slot.state_ = RequestSlot::State::Free;
}

VAStatus SlotPool::reinit(RequestSlot& slot) {
  // A completed request is made reusable, with its objects released
  // (Documentation/userspace-api/media/mediactl/media-request-ioc-reinit.rst).
  if (int err = xioctl(slot.request_.get(), MEDIA_REQUEST_IOC_REINIT, nullptr)) {
    video_.log().errorf("MEDIA_REQUEST_IOC_REINIT on %s (request of OUTPUT slot %u) failed: %s (errno %d)",
                        video_.path().c_str(), slot.output_index_.value, std::strerror(err), err);
    return status_from_errno(err);
  }
  return VA_STATUS_SUCCESS;
}

VAStatus SlotPool::wait_for_completion(const InFlight& entry) {
  // A completed request signals POLLPRI on its fd
  // (Documentation/userspace-api/media/mediactl/request-api.rst, "Request completion").
  pollfd pfd{entry.slot->request_.get(), POLLPRI, 0};
  for (;;) {
    int rc = ::poll(&pfd, 1, timeout_ms_);
    if (rc > 0) {
      if (pfd.revents & POLLPRI) return VA_STATUS_SUCCESS;
      video_.log().errorf("poll on %s (request of OUTPUT slot %u) returned events 0x%x without POLLPRI",
                          video_.path().c_str(), entry.slot->output_index_.value, pfd.revents);
      return VA_STATUS_ERROR_OPERATION_FAILED;
    }
    if (rc == 0) {
      video_.log().errorf("%s: request of OUTPUT slot %u (picture %llu) did not complete within %d ms",
                          video_.path().c_str(), entry.slot->output_index_.value,
                          static_cast<unsigned long long>(entry.sequence), timeout_ms_);
      return VA_STATUS_ERROR_TIMEDOUT;
    }
    if (errno != EINTR) {
      int err = errno;
      video_.log().errorf("poll on %s request failed: %s (errno %d)", video_.path().c_str(), std::strerror(err), err);
      return status_from_errno(err);
    }
  }
}

VAStatus SlotPool::drain_oldest(const CompletionSink& sink) {
  InFlight entry = in_flight_.front();
  if (VAStatus st = wait_for_completion(entry); st != VA_STATUS_SUCCESS) return st;

  Completion done;
  done.sequence = entry.sequence;
  done.capture = entry.capture;

  v4l2_plane planes[VIDEO_MAX_PLANES]{};
  v4l2_buffer buf{};
  if (entry.expects_capture) {
    // The m2m framework returns CAPTURE buffers in job order, so the one we
    // get is the one this request decoded into.
    if (int err = capture_.dequeue(buf, planes)) {
      video_.log().errorf("VIDIOC_DQBUF on %s (CAPTURE buffer %u for picture %llu) failed: %s (errno %d)",
                          video_.path().c_str(), entry.capture.value, static_cast<unsigned long long>(entry.sequence),
                          std::strerror(err), err);
      return status_from_errno(err);
    }
    done.capture_released = true;
    if (buf.index != entry.capture.value || ns_from_timeval(buf.timestamp) != entry.timestamp_ns) {
      video_.log().errorf("%s: dequeued CAPTURE buffer %u (ts %llu) but expected buffer %u (ts %llu)",
                          video_.path().c_str(), buf.index,
                          static_cast<unsigned long long>(ns_from_timeval(buf.timestamp)), entry.capture.value,
                          static_cast<unsigned long long>(entry.timestamp_ns));
      done.error = true;
    }
    if (buf.flags & V4L2_BUF_FLAG_ERROR) done.error = true;
  }
  if (int err = output_.dequeue(buf, planes)) {
    video_.log().errorf("VIDIOC_DQBUF on %s (OUTPUT slot %u) failed: %s (errno %d)", video_.path().c_str(),
                        entry.slot->output_index_.value, std::strerror(err), err);
    return status_from_errno(err);
  }
  if (buf.index != entry.slot->output_index_.value) {
    video_.log().errorf("%s: dequeued OUTPUT buffer %u but expected slot %u", video_.path().c_str(), buf.index,
                        entry.slot->output_index_.value);
    done.error = true;
  }
  if (buf.flags & V4L2_BUF_FLAG_ERROR) done.error = true;

  in_flight_.pop_front();
  completed_through_ = entry.sequence;
  VAStatus st = reinit(*entry.slot);
  // A request that could not be re-initialised is never bound again: the
  // pool shrinks by one slot rather than reuse a request in an unknown state.
  if (st == VA_STATUS_SUCCESS) entry.slot->state_ = RequestSlot::State::Free;
  if (sink) sink(done);
  return st;
}

VAStatus SlotPool::drain_through(uint64_t sequence, const CompletionSink& sink) {
  while (!in_flight_.empty() && in_flight_.front().sequence <= sequence)
    if (VAStatus st = drain_oldest(sink); st != VA_STATUS_SUCCESS) return st;
  return VA_STATUS_SUCCESS;
}

VAStatus SlotPool::drain_all(const CompletionSink& sink) {
  while (!in_flight_.empty())
    if (VAStatus st = drain_oldest(sink); st != VA_STATUS_SUCCESS) return st;
  return VA_STATUS_SUCCESS;
}

}  // namespace v4l2va
