// VA configs: the profiles the devices offer (H.264, VP8, VP9), VLD only, YUV 4:2:0.
#include <algorithm>

#include "discovery/discovery.h"
#include "driver.h"

namespace v4l2va::va {
namespace {

bool profile_offered(const Driver& d, VAProfile profile) {
  for (const auto& decoder : d.decoders)
    if (decoder.offers(profile)) return true;
  return false;
}

VAStatus check_profile(const Driver& d, VAProfile profile, VAEntrypoint entrypoint) {
  if (!profile_offered(d, profile)) return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  if (entrypoint != VAEntrypointVLD) return VA_STATUS_ERROR_UNSUPPORTED_ENTRYPOINT;
  return VA_STATUS_SUCCESS;
}

// Fills one attribute with what the device supports for decoding.
void fill_attribute(const Driver& d, VAProfile profile, VAConfigAttrib& attrib) {
  const PictureSize max = max_picture_size(d.decoders, profile);
  switch (attrib.type) {
    case VAConfigAttribRTFormat: attrib.value = VA_RT_FORMAT_YUV420; break;
    case VAConfigAttribMaxPictureWidth: attrib.value = max.width; break;
    case VAConfigAttribMaxPictureHeight: attrib.value = max.height; break;
    case VAConfigAttribDecSliceMode: attrib.value = VA_DEC_SLICE_MODE_NORMAL; break;
    default: attrib.value = VA_ATTRIB_NOT_SUPPORTED; break;
  }
}

}  // namespace

VAStatus QueryConfigProfiles(VADriverContextP ctx, VAProfile* profiles, int* count) {
  const Driver& d = driver_of(ctx);
  if (!profiles || !count) return VA_STATUS_ERROR_INVALID_PARAMETER;
  *count = 0;
  // libva sizes the array with max_profiles.
  for (VAProfile p : supported_profiles(d.decoders))
    if (*count < ctx->max_profiles) profiles[(*count)++] = p;
  return VA_STATUS_SUCCESS;
}

VAStatus QueryConfigEntrypoints(VADriverContextP ctx, VAProfile profile, VAEntrypoint* entrypoints, int* count) {
  if (!entrypoints || !count) return VA_STATUS_ERROR_INVALID_PARAMETER;
  *count = 0;
  if (!profile_offered(driver_of(ctx), profile)) return VA_STATUS_ERROR_UNSUPPORTED_PROFILE;
  entrypoints[(*count)++] = VAEntrypointVLD;
  return VA_STATUS_SUCCESS;
}

VAStatus GetConfigAttributes(VADriverContextP ctx, VAProfile profile, VAEntrypoint entrypoint,
                             VAConfigAttrib* attribs, int count) {
  const Driver& d = driver_of(ctx);
  if (count < 0 || (count > 0 && !attribs)) return VA_STATUS_ERROR_INVALID_PARAMETER;
  if (VAStatus st = check_profile(d, profile, entrypoint); st != VA_STATUS_SUCCESS) return st;
  for (int i = 0; i < count; ++i) fill_attribute(d, profile, attribs[i]);
  return VA_STATUS_SUCCESS;
}

VAStatus CreateConfig(VADriverContextP ctx, VAProfile profile, VAEntrypoint entrypoint, VAConfigAttrib* attribs,
                      int count, VAConfigID* id) {
  Driver& d = driver_of(ctx);
  if (!id || count < 0 || (count > 0 && !attribs)) return VA_STATUS_ERROR_INVALID_PARAMETER;
  if (VAStatus st = check_profile(d, profile, entrypoint); st != VA_STATUS_SUCCESS) {
    d.log.errorf("vaCreateConfig: profile %s / entrypoint %d not offered by any decoder", profile_name(profile),
                 entrypoint);
    return st;
  }
  auto config = std::make_shared<Config>();
  config->profile = profile;
  config->entrypoint = entrypoint;
  for (int i = 0; i < count; ++i) {
    if (attribs[i].type == VAConfigAttribRTFormat && !(attribs[i].value & VA_RT_FORMAT_YUV420)) {
      d.log.errorf("vaCreateConfig: RT format 0x%x not supported (YUV420 only)", attribs[i].value);
      return VA_STATUS_ERROR_UNSUPPORTED_RT_FORMAT;
    }
  }
  const VAConfigID new_id = d.configs.insert(config);
  if (new_id == VA_INVALID_ID) return VA_STATUS_ERROR_ALLOCATION_FAILED;
  *id = new_id;
  return VA_STATUS_SUCCESS;
}

VAStatus DestroyConfig(VADriverContextP ctx, VAConfigID id) {
  return driver_of(ctx).configs.remove(id) ? VA_STATUS_SUCCESS : VA_STATUS_ERROR_INVALID_CONFIG;
}

VAStatus QueryConfigAttributes(VADriverContextP ctx, VAConfigID id, VAProfile* profile, VAEntrypoint* entrypoint,
                               VAConfigAttrib* attribs, int* count) {
  const Driver& d = driver_of(ctx);
  if (!profile || !entrypoint || !attribs || !count) return VA_STATUS_ERROR_INVALID_PARAMETER;
  auto config = d.configs.find(id);
  if (!config) return VA_STATUS_ERROR_INVALID_CONFIG;
  *profile = config->profile;
  *entrypoint = config->entrypoint;
  static constexpr VAConfigAttribType kTypes[] = {VAConfigAttribRTFormat, VAConfigAttribMaxPictureWidth,
                                                  VAConfigAttribMaxPictureHeight, VAConfigAttribDecSliceMode};
  *count = 0;
  for (VAConfigAttribType t : kTypes) {
    VAConfigAttrib a{t, 0};
    fill_attribute(d, config->profile, a);
    attribs[(*count)++] = a;
  }
  return VA_STATUS_SUCCESS;
}

}  // namespace v4l2va::va
