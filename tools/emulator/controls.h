// The stateless control set (H.264, VP8) of one m2m instance: definitions per
// hardware profile, storage, the kernel's ext-ctrl ioctl rules and the
// compound-payload validation of v4l2-ctrls-core.c plus the drivers' try_ctrl.
#pragma once

#include <linux/videodev2.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "profiles.h"

namespace emu {

struct ControlDef {
  uint32_t id;
  const char* name;
  uint32_t type;  // V4L2_CTRL_TYPE_*
  int64_t minimum, maximum, step, default_value;
  uint64_t menu_skip_mask;
  uint32_t flags;
  uint32_t elem_size;  // payload size for compound controls, 4 otherwise
  bool is_compound() const { return type >= V4L2_CTRL_COMPOUND_TYPES; }
};

struct ControlValue {
  int32_t integer = 0;           // menu / integer controls
  std::vector<uint8_t> payload;  // compound controls: exactly elem_size bytes
};
using ControlValues = std::map<uint32_t, ControlValue>;

// Facts outside the control set that some validations need.
struct ValidationContext {
  const HardwareProfile* profile = nullptr;
  uint32_t output_width = 0;   // OUTPUT (coded) format, for rkvdec's SPS check
  uint32_t output_height = 0;
};

class ControlTable {
 public:
  explicit ControlTable(const HardwareProfile& profile);

  const ControlDef* find(uint32_t id) const;
  const std::vector<ControlDef>& defs() const { return defs_; }
  ControlValues defaults() const;

  // VIDIOC_QUERY_EXT_CTRL / VIDIOC_QUERYCTRL / VIDIOC_QUERYMENU; return 0 or -errno.
  int query_ext_ctrl(v4l2_query_ext_ctrl& query) const;
  int query_ctrl(v4l2_queryctrl& query) const;
  int query_menu(v4l2_querymenu& query) const;

  // VIDIOC_TRY/S_EXT_CTRLS payload stage: checks ids, sizes and values, and
  // copies the validated (normalised) values into `out` (nothing on error).
  // `set` selects S_ (error_idx = count on failure) versus TRY_ semantics.
  int try_ext_ctrls(v4l2_ext_controls& controls, bool set, const ValidationContext& context,
                    ControlValues& out) const;
  // VIDIOC_G_EXT_CTRLS from `values` (missing ids fall back to defaults).
  int get_ext_ctrls(v4l2_ext_controls& controls, const ControlValues& values) const;

 private:
  int prepare(v4l2_ext_controls& controls, bool get) const;
  std::vector<ControlDef> defs_;  // sorted by id
  const HardwareProfile& profile_;
};

// The payload rules, exposed for unit tests. `payload` is normalised in place
// exactly as the kernel normalises it. Return 0 or -EINVAL.
int validate_compound_like_kernel(uint32_t type, void* payload);
// std_init_compound(): the default payload of a compound control type.
void init_compound_like_kernel(uint32_t type, void* payload);
int validate_for_driver(uint32_t id, const void* payload, const ValidationContext& context);

const char* menu_item_name(uint32_t id, int64_t index);

}  // namespace emu
