// A media request (Documentation/userspace-api/media/mediactl/request-api.rst).
// Its fd is a memfd; poll/select/epoll on it are answered by the model
// (media_request_poll: POLLPRI once complete, POLLERR while idle) and sleep
// on its wait queue (wait_queue.h) until it changes.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <vector>

#include "controls.h"
#include "fd_table.h"
#include "unique_fd.h"
#include "wait_queue.h"

namespace emu {

class EmulatedDevice;
class M2mInstance;

class Request : public std::enable_shared_from_this<Request>, public PollTarget {
 public:
  enum class State { Idle, Queued, Complete };

  // Creates a request and its client fd (O_CLOEXEC, as MEDIA_IOC_REQUEST_ALLOC).
  static std::shared_ptr<Request> create(std::shared_ptr<EmulatedDevice> device, int& client_fd,
                                         int& error);

  // All of these need device().mutex held.
  int queue();   // MEDIA_REQUEST_IOC_QUEUE
  int reinit();  // MEDIA_REQUEST_IOC_REINIT
  State state() const { return state_; }
  size_t buffer_count() const { return buffers_.size(); }
  void bind_buffer(const std::shared_ptr<M2mInstance>& instance, uint32_t index);
  void unbind_buffer(const M2mInstance* instance, uint32_t index);
  // The buffer finished (done or cancelled); `values` are the instance's
  // control values after the job, kept for G_EXT_CTRLS(REQUEST_VAL).
  void buffer_completed(const M2mInstance* instance, uint32_t index, const ControlValues& values);
  ControlValues& controls_for(uint64_t instance_serial) { return controls_[instance_serial]; }
  const ControlValues* controls_of(uint64_t instance_serial) const;
  const ControlValues& completed_values() const { return completed_values_; }
  EmulatedDevice& device() { return *device_; }

  // PollTarget: the device mutex guards the request.
  std::mutex& poll_lock() override;
  WaitQueue& wait_queue() override { return waiters_; }
  int ready_events(short requested) override;

 private:
  explicit Request(std::shared_ptr<EmulatedDevice> device) : device_(std::move(device)) {}
  void complete();

  struct BoundBuffer {
    std::weak_ptr<M2mInstance> instance;
    const M2mInstance* raw;
    uint32_t index;
    bool completed;
  };
  std::shared_ptr<EmulatedDevice> device_;
  State state_ = State::Idle;
  std::vector<BoundBuffer> buffers_;
  std::map<uint64_t, ControlValues> controls_;
  ControlValues completed_values_;
  WaitQueue waiters_;
};

class RequestFile : public EmulatedFile {
 public:
  explicit RequestFile(std::shared_ptr<Request> request) : request_(std::move(request)) {}
  int ioctl(int fd, unsigned long request, void* arg) override;
  dev_t rdev() const override { return 0; }
  NodeKind node_kind() const override { return NodeKind::Request; }
  int decoder_index() const override;
  PollTarget* poll_target() override { return request_.get(); }
  const std::shared_ptr<Request>& request() const { return request_; }

 private:
  std::shared_ptr<Request> request_;
};

}  // namespace emu
