#include "dmabuf_attributes.h"

#include <cstdio>

namespace egl_dmabuf {
namespace {

struct PlaneNames {
  EGLAttrib fd, offset, pitch, modifier_lo, modifier_hi;
};
const PlaneNames kPlaneNames[kMaxPlanes] = {
    {EGL_DMA_BUF_PLANE0_FD_EXT, EGL_DMA_BUF_PLANE0_OFFSET_EXT, EGL_DMA_BUF_PLANE0_PITCH_EXT,
     EGL_DMA_BUF_PLANE0_MODIFIER_LO_EXT, EGL_DMA_BUF_PLANE0_MODIFIER_HI_EXT},
    {EGL_DMA_BUF_PLANE1_FD_EXT, EGL_DMA_BUF_PLANE1_OFFSET_EXT, EGL_DMA_BUF_PLANE1_PITCH_EXT,
     EGL_DMA_BUF_PLANE1_MODIFIER_LO_EXT, EGL_DMA_BUF_PLANE1_MODIFIER_HI_EXT},
    {EGL_DMA_BUF_PLANE2_FD_EXT, EGL_DMA_BUF_PLANE2_OFFSET_EXT, EGL_DMA_BUF_PLANE2_PITCH_EXT,
     EGL_DMA_BUF_PLANE2_MODIFIER_LO_EXT, EGL_DMA_BUF_PLANE2_MODIFIER_HI_EXT},
    {EGL_DMA_BUF_PLANE3_FD_EXT, EGL_DMA_BUF_PLANE3_OFFSET_EXT, EGL_DMA_BUF_PLANE3_PITCH_EXT,
     EGL_DMA_BUF_PLANE3_MODIFIER_LO_EXT, EGL_DMA_BUF_PLANE3_MODIFIER_HI_EXT},
};

ImportError error(EGLint code, std::string message) { return {code, std::move(message)}; }

// Stores one plane attribute; false when `name` is not a plane attribute.
bool set_plane_attribute(EGLAttrib name, EGLAttrib value, DmaBufAttributes& out) {
  for (int i = 0; i < kMaxPlanes; ++i) {
    const PlaneNames& n = kPlaneNames[i];
    PlaneAttributes& p = out.planes[i];
    if (name == n.fd) {
      p.has_fd = true;
      p.fd = static_cast<int>(value);
    } else if (name == n.offset) {
      p.has_offset = true;
      p.offset = static_cast<uint32_t>(value);
    } else if (name == n.pitch) {
      p.has_pitch = true;
      p.pitch = static_cast<uint32_t>(value);
    } else if (name == n.modifier_lo) {
      p.has_modifier_lo = true;
      p.modifier_lo = static_cast<uint32_t>(value);
    } else if (name == n.modifier_hi) {
      p.has_modifier_hi = true;
      p.modifier_hi = static_cast<uint32_t>(value);
    } else {
      continue;
    }
    return true;
  }
  return false;
}

bool is_ignored_hint(EGLAttrib name) {
  switch (name) {
    case EGL_YUV_COLOR_SPACE_HINT_EXT:
    case EGL_SAMPLE_RANGE_HINT_EXT:
    case EGL_YUV_CHROMA_HORIZONTAL_SITING_HINT_EXT:
    case EGL_YUV_CHROMA_VERTICAL_SITING_HINT_EXT:
    case EGL_IMAGE_PRESERVED_KHR:
      return true;
    default:
      return false;
  }
}

bool plane_mentioned(const PlaneAttributes& p) {
  return p.has_fd || p.has_offset || p.has_pitch || p.has_modifier_lo || p.has_modifier_hi;
}

uint64_t plane_modifier(const PlaneAttributes& p) { return (uint64_t(p.modifier_hi) << 32) | p.modifier_lo; }

// The modifier of the whole image: every plane that names one must name
// both halves, and all planes the same (modifiers extension, "Errors").
ImportError check_modifiers(const DmaBufAttributes& a, uint32_t plane_count, ImportSpec& spec) {
  for (uint32_t i = 0; i < plane_count; ++i) {
    const PlaneAttributes& p = a.planes[i];
    if (p.has_modifier_lo != p.has_modifier_hi)
      return error(EGL_BAD_PARAMETER, "plane " + std::to_string(i) + " has only one half of its modifier");
    if (!p.has_modifier_lo) continue;
    uint64_t modifier = plane_modifier(p);
    if (spec.explicit_modifier && modifier != spec.modifier)
      return error(EGL_BAD_PARAMETER, "planes have different modifiers");
    spec.explicit_modifier = true;
    spec.modifier = modifier;
  }
  if (spec.explicit_modifier && !modifier_supported(spec.format->fourcc, spec.modifier))
    return error(EGL_BAD_MATCH, "modifier " + modifier_name(spec.modifier) + " is not supported for " +
                                    fourcc_name(spec.format->fourcc));
  return {};
}

}  // namespace

std::vector<EGLAttrib> attribute_vector(const EGLint* list) {
  std::vector<EGLAttrib> out;
  for (; list && *list != EGL_NONE; list += 2) {
    out.push_back(list[0]);
    out.push_back(list[1]);
  }
  return out;
}

std::vector<EGLAttrib> attribute_vector(const EGLAttrib* list) {
  std::vector<EGLAttrib> out;
  for (; list && *list != EGL_NONE; list += 2) {
    out.push_back(list[0]);
    out.push_back(list[1]);
  }
  return out;
}

ImportError parse_attributes(const std::vector<EGLAttrib>& list, DmaBufAttributes& out) {
  out = DmaBufAttributes{};
  for (size_t i = 0; i + 1 < list.size(); i += 2) {
    EGLAttrib name = list[i], value = list[i + 1];
    if (name == EGL_WIDTH) {
      out.has_width = true;
      out.width = value;
    } else if (name == EGL_HEIGHT) {
      out.has_height = true;
      out.height = value;
    } else if (name == EGL_LINUX_DRM_FOURCC_EXT) {
      out.has_fourcc = true;
      out.fourcc = static_cast<uint32_t>(value);
    } else if (!set_plane_attribute(name, value, out) && !is_ignored_hint(name)) {
      char hex[24];
      std::snprintf(hex, sizeof hex, "0x%llx", static_cast<unsigned long long>(name));
      return error(EGL_BAD_PARAMETER, std::string("unknown attribute ") + hex);
    }
  }
  return {};
}

ImportError check_attributes(const DmaBufAttributes& a, ImportSpec& spec) {
  spec = ImportSpec{};
  // "If <target> is EGL_LINUX_DMA_BUF_EXT, and the list of attributes is
  // incomplete, EGL_BAD_PARAMETER is generated."
  if (!a.has_width || !a.has_height || !a.has_fourcc)
    return error(EGL_BAD_PARAMETER, "EGL_WIDTH, EGL_HEIGHT and EGL_LINUX_DRM_FOURCC_EXT are required");
  if (a.width <= 0 || a.height <= 0 || a.width > 16384 || a.height > 16384)
    return error(EGL_BAD_PARAMETER, "size " + std::to_string(a.width) + "x" + std::to_string(a.height) + " is invalid");
  // "... a format not supported by the EGL, EGL_BAD_MATCH is generated."
  spec.format = find_format(a.fourcc);
  if (!spec.format) return error(EGL_BAD_MATCH, "format " + fourcc_name(a.fourcc) + " is not supported");
  spec.width = static_cast<uint32_t>(a.width);
  spec.height = static_cast<uint32_t>(a.height);

  const uint32_t count = spec.format->plane_count;
  for (uint32_t i = 0; i < count; ++i) {
    const PlaneAttributes& p = a.planes[i];
    if (!p.has_fd || !p.has_offset || !p.has_pitch)
      return error(EGL_BAD_PARAMETER, "plane " + std::to_string(i) + " of " + fourcc_name(a.fourcc) +
                                          " needs its FD, OFFSET and PITCH");
    if (p.fd < 0) return error(EGL_BAD_PARAMETER, "plane " + std::to_string(i) + " has fd " + std::to_string(p.fd));
    spec.planes.push_back({p.fd, {p.offset, p.pitch}});
  }
  // "... attributes for planes the format does not have: EGL_BAD_ATTRIBUTE."
  for (uint32_t i = count; i < kMaxPlanes; ++i)
    if (plane_mentioned(a.planes[i]))
      return error(EGL_BAD_ATTRIBUTE, fourcc_name(a.fourcc) + " has " + std::to_string(count) +
                                          " plane(s) but plane " + std::to_string(i) + " attributes were given");
  return check_modifiers(a, count, spec);
}

}  // namespace egl_dmabuf
