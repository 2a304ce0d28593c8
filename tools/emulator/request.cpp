#include "request.h"

#include <fcntl.h>
#include <linux/media.h>
#include <poll.h>
#include <sys/socket.h>
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
  int ends[2];
  // media-ioc-request-alloc.rst: the request fd is close-on-exec.
  if (::socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, ends) != 0) {
    error = -errno;
    return nullptr;
  }
  UniqueFd client(ends[0]);
  UniqueFd sender(ends[1]);
  UniqueFd client_dup(static_cast<int>(::syscall(SYS_fcntl, client.get(), F_DUPFD_CLOEXEC, 0)));
  if (!client_dup.valid()) {
    error = -errno;
    return nullptr;
  }
  std::shared_ptr<Request> request(new Request(std::move(device)));
  request->signal_sender_ = std::move(sender);
  request->client_end_ = std::move(client_dup);
  client_fd = client.release();
  return request;
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
  clear_signal();
  state_ = State::Idle;
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
  if (!signalled_) {
    // request-api.rst: completion is signalled as POLLPRI on the request fd.
    const char byte = 1;
    if (::send(signal_sender_.get(), &byte, 1, MSG_OOB | MSG_DONTWAIT | MSG_NOSIGNAL) == 1)
      signalled_ = true;
  }
}

void Request::clear_signal() {
  if (!signalled_) return;
  char byte = 0;
  ::recv(client_end_.get(), &byte, 1, MSG_OOB | MSG_DONTWAIT);
  signalled_ = false;
}

int Request::poll_events(short requested) const {
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

int RequestFile::poll_events(short requested) {
  std::lock_guard lock(request_->device().mutex);
  // Runs inside poll()/select(), where TSan does not see this lock.
  SanitizerLockScope sanitizer_scope(&request_->device().mutex);
  return request_->poll_events(requested);
}

}  // namespace emu
