#include "faults.h"

#include <linux/media.h>
#include <linux/videodev2.h>
#include <poll.h>

#include <algorithm>
#include <cctype>
#include <cerrno>
#include <charconv>
#include <cstdlib>

#include "counters.h"
#include "fd_table.h"

namespace emu {
namespace {

// Watchdog of hantro_drv.c, rkvdec.c and cedrus_dec.c (6.12): a job the
// hardware does not finish within 2000 ms is finished with
// VB2_BUF_STATE_ERROR.
constexpr unsigned kWatchdogUs = 2000 * 1000;
constexpr unsigned kDefaultSlowUs = 100 * 1000;

struct ErrnoName {
  const char* name;
  int value;
};
constexpr ErrnoName kErrnoNames[] = {
    {"EPERM", EPERM},   {"ENOENT", ENOENT}, {"EINTR", EINTR},   {"EIO", EIO},
    {"ENXIO", ENXIO},   {"EBADF", EBADF},   {"EAGAIN", EAGAIN}, {"ENOMEM", ENOMEM},
    {"EACCES", EACCES}, {"EFAULT", EFAULT}, {"EBUSY", EBUSY},   {"ENODEV", ENODEV},
    {"EINVAL", EINVAL}, {"ENFILE", ENFILE}, {"EMFILE", EMFILE}, {"ENOTTY", ENOTTY},
    {"ENOSPC", ENOSPC}, {"EPIPE", EPIPE},   {"ERANGE", ERANGE}, {"ENOBUFS", ENOBUFS},
    {"EBADR", EBADR},   {"ETIMEDOUT", ETIMEDOUT},
};

// The errnos Linux 6.12 can return from each call the VA driver makes, at
// the call's entry or from its checks, on hantro/rkvdec/cedrus. Every ioctl
// of the video node may see EINTR: __video_do_ioctl() takes the queue or
// device lock with mutex_lock_interruptible() and returns -ERESTARTSYS,
// which a signal handler without SA_RESTART turns into EINTR. ENOMEM where
// video_usercopy() allocates: arguments over its 128-byte stack buffer
// (v4l2_format, v4l2_create_buffers, v4l2_query_ext_ctrl) or with an array
// (the planes of v4l2_buffer, the controls of v4l2_ext_controls).
// ENODEV/EIO after unregistration are the unplug rule's, not listed here.
struct TargetErrnos {
  const char* target;
  std::vector<int> errnos;
};
const std::vector<TargetErrnos>& errno_table() {
  static const std::vector<TargetErrnos> table = {
      // v4l_querycap(): cannot fail past the lock.
      {"VIDIOC_QUERYCAP", {EINTR}},
      // v4l_enum_fmt(): index past the list, or a type the driver lacks.
      {"VIDIOC_ENUM_FMT", {EINVAL, EINTR}},
      // hantro_enum_framesizes(): EINVAL past index 0 / unknown format.
      {"VIDIOC_ENUM_FRAMESIZES", {EINVAL, EINTR}},
      {"VIDIOC_G_FMT", {EINVAL, ENOMEM, EINTR}},
      // hantro_s_fmt_out_mplane() etc.: EBUSY while buffers are allocated.
      {"VIDIOC_S_FMT", {EINVAL, EBUSY, ENOMEM, EINTR}},
      {"VIDIOC_TRY_FMT", {EINVAL, ENOMEM, EINTR}},
      // vb2_core_reqbufs(): EBUSY streaming or mapped, EINVAL, ENOMEM (queue_setup, allocation).
      {"VIDIOC_REQBUFS", {EINVAL, EBUSY, ENOMEM, EINTR}},
      // vb2_core_create_bufs(): ENOBUFS at max_num_buffers, EBUSY (memory model), EINVAL, ENOMEM.
      {"VIDIOC_CREATE_BUFS", {EINVAL, EBUSY, ENOBUFS, ENOMEM, EINTR}},
      // vb2_querybuf(): EINVAL (index, type, planes array).
      {"VIDIOC_QUERYBUF", {EINVAL, ENOMEM, EINTR}},
      // vb2_core_expbuf(): EINVAL, EBUSY (fileio), dma_buf_fd() -> EMFILE.
      {"VIDIOC_EXPBUF", {EINVAL, EBUSY, EMFILE, EINTR}},
      // vb2_core_qbuf()/vb2_queue_or_prepare_buf(): EIO (q->error), EBADR,
      // EBUSY (request state, uses_requests), EINVAL.
      {"VIDIOC_QBUF", {EINVAL, EBUSY, EBADR, EIO, ENOMEM, EINTR}},
      // __vb2_wait_for_done_vb(): EBUSY (fileio), EINVAL (not streaming), EIO
      // (q->error), EPIPE (last buffer dequeued), EAGAIN (non-blocking).
      {"VIDIOC_DQBUF", {EAGAIN, EINVAL, EIO, EPIPE, ENOMEM, EINTR}},
      // vb2_core_streamon(): EINVAL, EIO (q->error); start_streaming ->
      // hantro/rkvdec codec init: ENOMEM.
      {"VIDIOC_STREAMON", {EINVAL, EIO, ENOMEM, EINTR}},
      // vb2_core_streamoff(): EINVAL (type).
      {"VIDIOC_STREAMOFF", {EINVAL, EINTR}},
      // v4l2-ctrls-api.c: EINVAL, ERANGE (menu), EBUSY (request not idle,
      // grabbed control), EACCES (read-only), ENOMEM (request handler).
      {"VIDIOC_S_EXT_CTRLS", {EINVAL, ERANGE, EBUSY, EACCES, ENOMEM, EINTR}},
      {"VIDIOC_G_EXT_CTRLS", {EINVAL, EACCES, ENOSPC, ENOMEM, EINTR}},
      {"VIDIOC_TRY_EXT_CTRLS", {EINVAL, ERANGE, ENOMEM, EINTR}},
      {"VIDIOC_QUERY_EXT_CTRL", {EINVAL, ENOMEM, EINTR}},
      {"VIDIOC_QUERYCTRL", {EINVAL, EINTR}},
      {"VIDIOC_QUERYMENU", {EINVAL, EINTR}},
      {"VIDIOC_G_CTRL", {EINVAL, EACCES, EINTR}},
      {"VIDIOC_S_CTRL", {EINVAL, ERANGE, EBUSY, EACCES, EINTR}},
      // mc-device.c: media_device_get_topology() ENOSPC/EFAULT; copy faults.
      {"MEDIA_IOC_DEVICE_INFO", {EFAULT}},
      {"MEDIA_IOC_G_TOPOLOGY", {ENOSPC, EFAULT}},
      // media_request_alloc(): ENOMEM, get_unused_fd_flags() EMFILE,
      // anon_inode_getfile() ENFILE.
      {"MEDIA_IOC_REQUEST_ALLOC", {ENOMEM, EMFILE, ENFILE}},
      // media_request_ioctl_queue(): EBUSY (not idle); vb2_request_validate():
      // ENOENT (no buffer), EIO (__buf_prepare, q->error), EINVAL
      // (buf_prepare, rkvdec/cedrus one buffer per request).
      {"MEDIA_REQUEST_IOC_QUEUE", {EBUSY, ENOENT, EINVAL, EIO}},
      // media_request_ioctl_reinit(): EBUSY (queued, or being accessed).
      {"MEDIA_REQUEST_IOC_REINIT", {EBUSY}},
      // vb2_mmap(): EINVAL (offset, flags, size); the mm: ENOMEM.
      {"mmap", {EINVAL, ENOMEM}},
      // hantro_open()/rkvdec_open(): kzalloc, v4l2_m2m_ctx_init() ENOMEM;
      // permissions EACCES; fd table EMFILE; a device going away ENODEV.
      {"open", {ENOMEM, EACCES, EMFILE, ENODEV}},
  };
  return table;
}

bool parse_number(std::string_view text, uint64_t& value) {
  const auto [end, error] = std::from_chars(text.data(), text.data() + text.size(), value);
  return error == std::errc() && end == text.data() + text.size() && !text.empty();
}

bool parse_probability(std::string_view text, double& value) {
  // from_chars for double is not in libstdc++ 12's headers for every
  // target; strtod on a NUL-terminated copy is.
  const std::string copy(text);
  char* end = nullptr;
  value = std::strtod(copy.c_str(), &end);
  return !copy.empty() && end == copy.c_str() + copy.size() && value >= 0.0 && value <= 1.0;
}

std::vector<std::string_view> split(std::string_view text, char separator) {
  std::vector<std::string_view> parts;
  size_t start = 0;
  while (true) {
    const size_t end = text.find(separator, start);
    parts.push_back(text.substr(start, end == std::string_view::npos ? end : end - start));
    if (end == std::string_view::npos) break;
    start = end + 1;
  }
  return parts;
}

std::string trimmed(std::string_view text) {
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.front()))) text.remove_prefix(1);
  while (!text.empty() && std::isspace(static_cast<unsigned char>(text.back()))) text.remove_suffix(1);
  return std::string(text);
}

std::string parse_trigger(std::string_view token, FaultRule& rule) {
  const size_t equals = token.find('=');
  if (equals == std::string_view::npos) {
    if (!parse_probability(token, rule.probability))
      return "'" + std::string(token) + "' is neither a probability in [0,1] nor KEY=VALUE";
    return {};
  }
  const std::string_view key = token.substr(0, equals);
  const std::string_view text = token.substr(equals + 1);
  if (key == "p") {
    if (!parse_probability(text, rule.probability)) return "p=" + std::string(text) + " is not in [0,1]";
    return {};
  }
  uint64_t value = 0;
  if (!parse_number(text, value)) return std::string(key) + "=" + std::string(text) + " is not a number";
  if (key == "after") rule.after = value;
  else if (key == "until") rule.until = value;
  else if (key == "nth") rule.nth = value;
  else if (key == "count") rule.max_count = value;
  else if (key == "until_idr") rule.until_idr = value;
  else if (key == "us" && rule.job == JobFaultKind::Slow) rule.delay_us = static_cast<unsigned>(value);
  else if (key == "ms" && rule.job == JobFaultKind::Timeout) rule.delay_us = static_cast<unsigned>(value * 1000);
  else return "unknown trigger '" + std::string(key) + "' for " + rule.kind();
  return {};
}

std::string parse_action(FaultRule& rule) {
  if (rule.target == "unplug") {
    if (!rule.action.empty()) return "unplug takes no action, only triggers (e.g. unplug:after=150)";
    return {};
  }
  if (rule.target == "job") {
    if (rule.action == "error") rule.job = JobFaultKind::Error;
    else if (rule.action == "hang") rule.job = JobFaultKind::Hang;
    else if (rule.action == "slow") rule.job = JobFaultKind::Slow, rule.delay_us = kDefaultSlowUs;
    else if (rule.action == "timeout") rule.job = JobFaultKind::Timeout, rule.delay_us = kWatchdogUs;
    else return "job:" + rule.action + ": the job actions are error, hang, slow, timeout";
    return {};
  }
  if (rule.target == "poll") {
    if (rule.action == "EINTR") {
      rule.error = EINTR;
      return {};
    }
    if (rule.action != "POLLERR") return "poll:" + rule.action + ": the poll actions are POLLERR and EINTR";
    return {};
  }
  const std::vector<int>& allowed = plausible_errnos(rule.target);
  if (allowed.empty()) return "unknown fault target '" + rule.target + "'";
  rule.error = errno_from_name(rule.action);
  if (rule.error == 0) return "'" + rule.action + "' is not an errno name";
  if (std::find(allowed.begin(), allowed.end(), rule.error) == allowed.end()) {
    std::string names;
    for (int e : allowed) names += (names.empty() ? "" : " ") + errno_name(e);
    return rule.target + " does not return " + rule.action + " on Linux 6.12 (it can return: " + names + ")";
  }
  return {};
}

}  // namespace

int errno_from_name(std::string_view name) {
  for (const ErrnoName& entry : kErrnoNames)
    if (name == entry.name) return entry.value;
  return 0;
}

std::string errno_name(int error) {
  for (const ErrnoName& entry : kErrnoNames)
    if (error == entry.value) return entry.name;
  return std::to_string(error);
}

const std::vector<int>& plausible_errnos(std::string_view target) {
  static const std::vector<int> none;
  for (const TargetErrnos& entry : errno_table())
    if (target == entry.target) return entry.errnos;
  return none;
}

std::string fault_targets_json() {
  std::string json = "{";
  for (const TargetErrnos& entry : errno_table()) {
    json += std::string(json.size() > 1 ? "," : "") + "\"" + entry.target + "\":[";
    for (size_t i = 0; i < entry.errnos.size(); ++i)
      json += (i ? ",\"" : "\"") + errno_name(entry.errnos[i]) + "\"";
    json += "]";
  }
  json += ",\"poll\":[\"POLLERR\",\"EINTR\"],\"job\":[\"error\",\"hang\",\"slow\",\"timeout\"],\"unplug\":[]}";
  return json;
}

std::string parse_fault_rules(std::string_view spec, std::vector<FaultRule>& rules) {
  rules.clear();
  for (std::string_view item : split(spec, ',')) {
    const std::string text = trimmed(item);
    if (text.empty()) continue;
    const std::vector<std::string_view> fields = split(text, ':');
    FaultRule rule;
    rule.target = std::string(fields[0]);
    size_t first_trigger = 1;
    if (rule.target != "unplug") {
      if (fields.size() < 2) return "'" + text + "': expected TARGET:ACTION[:TRIGGER...]";
      rule.action = std::string(fields[1]);
      first_trigger = 2;
    }
    if (std::string error = parse_action(rule); !error.empty()) return "'" + text + "': " + error;
    for (size_t i = first_trigger; i < fields.size(); ++i)
      if (std::string error = parse_trigger(fields[i], rule); !error.empty()) return "'" + text + "': " + error;
    if (rule.target == "unplug") rule.max_count = std::min<uint64_t>(rule.max_count, 1);
    rules.push_back(std::move(rule));
  }
  return {};
}

void Faults::configure(std::vector<FaultRule> rules, uint64_t seed) {
  std::lock_guard lock(mutex_);
  rules_.clear();
  for (size_t i = 0; i < rules.size(); ++i) {
    RuleState state;
    state.rule = std::move(rules[i]);
    // One stream per rule: adding a rule does not shift the others' draws.
    state.random.seed(seed * 0x9e3779b97f4a7c15ull + i + 1);
    rules_.push_back(std::move(state));
  }
  any_ = !rules_.empty();
  unplugged_.fill(false);
  injected_.clear();
  total_ = 0;
  last_fault_picture_ = last_fault_idr_ = -1;
  pictures_seen_ = idr_seen_ = 0;
  have_last_params_ = false;
}

bool Faults::active() const {
  std::lock_guard lock(mutex_);
  return any_;
}

Faults::RuleState* Faults::fire(std::string_view target, std::string_view action) {
  RuleState* fired = nullptr;
  for (RuleState& state : rules_) {
    if (state.rule.target != target || (!action.empty() && state.rule.action != action)) continue;
    const uint64_t n = ++state.events;
    const FaultRule& rule = state.rule;
    if (n <= rule.after || n > rule.until || (rule.nth != 0 && n != rule.nth) ||
        state.injected >= rule.max_count || (rule.until_idr != 0 && idr_seen_ >= rule.until_idr))
      continue;
    // 53 random bits as a double in [0, 1): the same sequence on every
    // standard library (uniform_real_distribution is not specified exactly).
    const double draw = static_cast<double>(state.random() >> 11) * 0x1.0p-53;
    if (rule.probability < 1.0 && draw >= rule.probability) continue;
    if (!fired) {
      fired = &state;
      ++state.injected;
    }
  }
  if (fired) record_injection(fired->rule.kind());
  return fired;
}

void Faults::record_injection(const std::string& kind) {
  ++injected_[kind];
  ++total_;
  last_fault_picture_ = static_cast<int64_t>(pictures_seen_);
  last_fault_idr_ = static_cast<int64_t>(idr_seen_);
}

// Follows which picture the client is submitting: a DECODE_PARAMS control
// that differs from the last one begins a picture (the slices of one
// picture repeat it in slice-based mode).
void Faults::track_picture(const void* arg) {
  const auto* controls = static_cast<const v4l2_ext_controls*>(arg);
  if (!controls || !controls->controls || controls->count > 1024) return;
  for (uint32_t i = 0; i < controls->count; ++i) {
    const v4l2_ext_control& control = controls->controls[i];
    if (control.id != V4L2_CID_STATELESS_H264_DECODE_PARAMS ||
        control.size != sizeof(v4l2_ctrl_h264_decode_params) || !control.ptr)
      continue;
    const auto& params = *static_cast<const v4l2_ctrl_h264_decode_params*>(control.ptr);
    const bool same = have_last_params_ && params.frame_num == last_params_.frame_num &&
                      params.top_field_order_cnt == last_params_.top_field_order_cnt &&
                      params.bottom_field_order_cnt == last_params_.bottom_field_order_cnt &&
                      params.idr_pic_id == last_params_.idr_pic_id && params.flags == last_params_.flags;
    if (!same) {
      ++pictures_seen_;
      // Both fields of an IDR frame carry the IDR flag: count the frame once.
      const bool second_field_of_idr =
          have_last_params_ && (last_params_.flags & V4L2_H264_DECODE_PARAM_FLAG_IDR_PIC) &&
          params.idr_pic_id == last_params_.idr_pic_id && params.frame_num == last_params_.frame_num &&
          (params.flags & V4L2_H264_DECODE_PARAM_FLAG_FIELD_PIC) &&
          (params.flags & V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD) !=
              (last_params_.flags & V4L2_H264_DECODE_PARAM_FLAG_BOTTOM_FIELD);
      if ((params.flags & V4L2_H264_DECODE_PARAM_FLAG_IDR_PIC) && !second_field_of_idr) ++idr_seen_;
    }
    last_params_ = params;
    have_last_params_ = true;
  }
}

int Faults::on_ioctl(NodeKind node, int device, unsigned long request, const void* arg) {
  std::lock_guard lock(mutex_);
  // Followed in clean runs too: their counters say how many IDRs the
  // client submitted.
  if (request == VIDIOC_S_EXT_CTRLS) track_picture(arg);
  if (!any_) return 0;
  // After video_unregister_device(): v4l2_ioctl() answers ENODEV; the media
  // node's media_ioctl() answers EIO (mc-devnode.c). Request fds have their
  // own file operations (mc-request.c), which do not look at the device.
  if (device >= 0 && device < static_cast<int>(unplugged_.size()) && unplugged_[device]) {
    if (node == NodeKind::Video) return ENODEV;
    if (node == NodeKind::Media) return EIO;
  }
  RuleState* fired = fire(ioctl_name(request));
  return fired ? fired->rule.error : 0;
}

int Faults::on_mmap(int device) {
  std::lock_guard lock(mutex_);
  if (!any_) return 0;
  // v4l2_mmap(): ENODEV once unregistered.
  if (device >= 0 && device < static_cast<int>(unplugged_.size()) && unplugged_[device]) return ENODEV;
  RuleState* fired = fire("mmap");
  return fired ? fired->rule.error : 0;
}

int Faults::on_open() {
  std::lock_guard lock(mutex_);
  if (!any_) return 0;
  RuleState* fired = fire("open");
  return fired ? fired->rule.error : 0;
}

int Faults::on_poll(NodeKind node, int device, int events, bool reported) {
  std::lock_guard lock(mutex_);
  // Reached from TSan's poll interceptor, which hides the lock from TSan.
  SanitizerLockScope sanitizer_scope(&mutex_);
  if (!any_ || device < 0 || device >= static_cast<int>(unplugged_.size())) return events;
  if (unplugged_[device]) {
    // v4l2_poll(): EPOLLERR | EPOLLHUP | EPOLLPRI; media_poll(): EPOLLERR | EPOLLHUP.
    if (node == NodeKind::Video) return POLLERR | POLLHUP | POLLPRI;
    if (node == NodeKind::Media) return POLLERR | POLLHUP;
  }
  if (reported && node == NodeKind::Video && fire("poll", "POLLERR")) return events | POLLERR;
  return events;
}

int Faults::on_poll_call() {
  std::lock_guard lock(mutex_);
  // Reached from TSan's poll interceptor, which hides the lock from TSan.
  SanitizerLockScope sanitizer_scope(&mutex_);
  if (!any_) return 0;
  return fire("poll", "EINTR") ? EINTR : 0;
}

JobFault Faults::on_job_start(int device) {
  std::lock_guard lock(mutex_);
  if (!any_) return {};
  const bool valid_device = device >= 0 && device < static_cast<int>(unplugged_.size());
  if (valid_device && unplugged_[device]) return {JobFaultKind::Unplugged, 0};
  if (fire("unplug")) {
    if (valid_device) unplugged_[device] = true;
    return {JobFaultKind::Unplugged, 0};
  }
  if (RuleState* fired = fire("job")) return {fired->rule.job, fired->rule.delay_us};
  return {};
}

bool Faults::unplugged(int device) const {
  std::lock_guard lock(mutex_);
  return device >= 0 && device < static_cast<int>(unplugged_.size()) && unplugged_[device];
}

FaultSnapshot Faults::snapshot() const {
  std::lock_guard lock(mutex_);
  FaultSnapshot s;
  s.injected = injected_;
  s.total = total_;
  s.last_fault_picture = last_fault_picture_;
  s.last_fault_idr = last_fault_idr_;
  s.pictures_seen = pictures_seen_;
  s.idr_seen = idr_seen_;
  return s;
}

std::string Faults::to_json() const {
  const FaultSnapshot s = snapshot();
  std::string json = "{\"injected\":{";
  bool first = true;
  for (const auto& [kind, count] : s.injected) {
    json += (first ? "\"" : ",\"") + kind + "\":" + std::to_string(count);
    first = false;
  }
  json += "},\"total\":" + std::to_string(s.total) +
          ",\"last_fault_picture\":" + std::to_string(s.last_fault_picture) +
          ",\"last_fault_idr\":" + std::to_string(s.last_fault_idr) +
          ",\"pictures_seen\":" + std::to_string(s.pictures_seen) +
          ",\"idr_seen\":" + std::to_string(s.idr_seen) + "}";
  return json;
}

void Faults::reset_counts() {
  std::lock_guard lock(mutex_);
  for (RuleState& state : rules_) state.events = state.injected = 0;
  injected_.clear();
  total_ = 0;
  last_fault_picture_ = last_fault_idr_ = -1;
  pictures_seen_ = idr_seen_ = 0;
  have_last_params_ = false;
}

}  // namespace emu
