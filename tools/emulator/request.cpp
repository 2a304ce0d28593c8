#include "request.h"

#include <fcntl.h>
#include <linux/media.h>
#include <poll.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <mutex>

#include "emulator.h"
#include "media_device.h"
#include "video_device.h"

namespace emu {

std::shared_ptr<Request> Request::create(std::shared_ptr<EmulatedDevice> device, int& client_fd,
                                         int& error) {
  // media-ioc-request-alloc.rst: the request fd is close-on-exec. A memfd
  // gives it a unique inode (FdTable's stale-fd check) and needs no syscall
  // a sandbox might refuse (memfd_create is in Firefox's common policy).
  const long fd = ::syscall(SYS_memfd_create, "emu-request", MFD_CLOEXEC);
  if (fd < 0) {
    error = -errno;
    return nullptr;
  }
  client_fd = static_cast<int>(fd);
  return std::shared_ptr<Request>(new Request(std::move(device)));
}

const ControlValues* Request::controls_of(uint64_t instance_serial) const {
  auto it = controls_.find(instance_serial);
  return it == controls_.end() ? nullptr : &it->second;
}

int Request::queue() {
  auto self = shared_from_this();
  // media-request-ioc-queue.rst: EBUSY when the request was already queued
  // (and not re-initialised).
  if (state_ != State::Idle) return -EBUSY;
  // vb2_request_validate(): a request without a buffer is ENOENT.
  if (buffers_.empty()) return -ENOENT;
  // rkvdec_request_validate() / cedrus_request_validate() /
  // fops_media_request_validate() (mtk): one buffer only.
  if (device_->profile().one_buffer_per_request && buffers_.size() > 1) return -EINVAL;
  // vb2_request_validate() prepares each buffer (the driver's buf_prepare).
  for (const auto& bound : buffers_)
    if (auto instance = bound.instance.lock())
      if (const int ret = instance->request_validate(bound.index)) return ret;
  state_ = State::Queued;
  device_->emulator().counters().request_queued();
  waiters_.wake_all(false);  // an idle request's POLLERR is gone
  for (const auto& bound : std::vector<BoundBuffer>(buffers_))
    if (auto instance = bound.instance.lock()) instance->request_queued(bound.index);
  return 0;
}

int Request::reinit() {
  auto self = shared_from_this();
  // media-request-ioc-reinit.rst: EBUSY while queued and not yet completed.
  if (state_ == State::Queued) return -EBUSY;
  const std::vector<BoundBuffer> bound = std::move(buffers_);
  buffers_.clear();
  for (const auto& buffer : bound)
    if (!buffer.completed)
      if (auto instance = buffer.instance.lock()) instance->request_unbound(buffer.index);
  controls_.clear();
  completed_values_.clear();
  state_ = State::Idle;
  waiters_.wake_all(false);  // POLLPRI becomes POLLERR
  return 0;
}

void Request::bind_buffer(const std::shared_ptr<M2mInstance>& instance, uint32_t index) {
  buffers_.push_back({instance, instance.get(), index, false});
}

void Request::unbind_buffer(const M2mInstance* instance, uint32_t index) {
  std::erase_if(buffers_, [&](const BoundBuffer& b) { return b.raw == instance && b.index == index; });
}

void Request::buffer_completed(const M2mInstance* instance, uint32_t index,
                               const ControlValues& values) {
  auto self = shared_from_this();
  bool all_done = true;
  for (auto& bound : buffers_) {
    if (bound.raw == instance && bound.index == index) bound.completed = true;
    all_done = all_done && bound.completed;
  }
  completed_values_ = values;
  if (all_done && state_ == State::Queued) complete();
}

void Request::complete() {
  state_ = State::Complete;
  device_->emulator().counters().request_completed();
  // media_request_object_complete() -> wake_up_interruptible_all(&req->poll_wait).
  waiters_.wake_all(true);
}

std::mutex& Request::poll_lock() { return device_->mutex; }

int Request::ready_events(short requested) {
  // media_request_poll(): only POLLPRI is reported; an idle request is POLLERR.
  if (!(requested & POLLPRI)) return 0;
  if (state_ == State::Complete) return POLLPRI;
  if (state_ == State::Idle) return POLLERR;
  return 0;
}

int RequestFile::ioctl(int, unsigned long command, void*) {
  std::lock_guard lock(request_->device().mutex);
  switch (command) {
    case MEDIA_REQUEST_IOC_QUEUE:
      return request_->queue();
    case MEDIA_REQUEST_IOC_REINIT:
      return request_->reinit();
    default:
      return -ENOTTY;
  }
}

int RequestFile::decoder_index() const { return static_cast<int>(request_->device().index()); }

}  // namespace emu
