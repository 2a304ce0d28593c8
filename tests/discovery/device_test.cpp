// Discovery against emulated decoders (device side: the emulator preload)
// under umockdev testbeds (udev side). Each meson test runs this binary in
// one scenario (run_scenario.py sets the devices and what udev sees) and
// selects that scenario's tests; DISCOVERY_SCENARIO names it.

#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>
#include <va/va.h>
#include <va/va_drm.h>

#include <algorithm>
#include <cstdlib>
#include <optional>
#include <string>

#include "discovery/discovery.h"

namespace v4l2va {
namespace {

class CollectingLog final : public Log {
 public:
  void error(const std::string& line) override { errors.push_back(line); }
  void info(const std::string& line) override { infos.push_back(line); }
  bool mentions(const std::string& text) const {
    for (const auto* lines : {&errors, &infos})
      for (const auto& line : *lines)
        if (line.find(text) != std::string::npos) return true;
    return false;
  }
  std::string all() const {
    std::string out;
    for (const auto& line : errors) out += "E: " + line + "\n";
    for (const auto& line : infos) out += "I: " + line + "\n";
    return out;
  }
  std::vector<std::string> errors, infos;
};

// Sets an environment variable for one scope and restores the old value.
class ScopedEnv {
 public:
  ScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old;
    if (value)
      ::setenv(name, value, 1);
    else
      ::unsetenv(name);
  }
  ~ScopedEnv() {
    if (old_)
      ::setenv(name_, old_->c_str(), 1);
    else
      ::unsetenv(name_);
  }
  ScopedEnv(const ScopedEnv&) = delete;
  ScopedEnv& operator=(const ScopedEnv&) = delete;

 private:
  const char* name_;
  std::optional<std::string> old_;
};

int open_fd_count() {
  int n = 0;
  if (DIR* d = opendir("/proc/self/fd")) {
    while (readdir(d)) ++n;
    closedir(d);
  }
  return n;
}

// Runs a test only inside its scenario; outside it (a bare run of the
// binary) the test is skipped, saying how to run it.
#define REQUIRE_SCENARIO(name)                                                                       \
  do {                                                                                               \
    const char* scenario = std::getenv("DISCOVERY_SCENARIO");                                        \
    if (!scenario || std::string(scenario) != (name))                                                \
      GTEST_SKIP() << "needs scenario '" << (name) << "': run through meson test --suite discovery"; \
  } while (0)

const std::vector<VAProfile> kEmulatedProfiles = {VAProfileH264ConstrainedBaseline, VAProfileH264Main,
                                                  VAProfileH264High};

// ---- one hantro decoder, udev sees it ----

TEST(OneDecoder, FoundThroughUdevWithTheDevicesOwnLimits) {
  REQUIRE_SCENARIO("one");
  CollectingLog log;
  DiscoveryReport report = survey_decoders(DiscoveryOptions{}, log);
  EXPECT_EQ(report.method, DiscoveryMethod::Udev) << log.all();
  ASSERT_EQ(report.candidates.size(), 1u) << log.all();
  const DecoderCandidate& c = report.candidates[0];
  ASSERT_TRUE(c.usable) << c.rejection;
  EXPECT_EQ(c.media_path, "/dev/media0");
  EXPECT_EQ(c.video_path, "/dev/video0");
  EXPECT_EQ(c.media_driver, "hantro-vpu");
  EXPECT_NE(c.entity_name.find("-proc"), std::string::npos) << c.entity_name;
  // Values of the emulated hantro profile (tools/emulator/profiles.cpp), read
  // through ENUM_FRAMESIZES and the H.264 profile menu.
  EXPECT_EQ(c.capabilities.driver_name, "hantro-vpu");
  const CodedFormatCaps* h264 = c.capabilities.format_of(CodecKind::H264);
  ASSERT_NE(h264, nullptr);
  EXPECT_EQ(h264->min_width, 48u);
  EXPECT_EQ(h264->max_width, 1920u);
  EXPECT_EQ(h264->max_height, 1088u);
  EXPECT_EQ(h264->profiles, kEmulatedProfiles);
  EXPECT_TRUE(log.mentions("udev lists 1 media device(s): /dev/media0")) << log.all();
  EXPECT_TRUE(log.mentions("using 1 decoder(s): /dev/video0")) << log.all();
  EXPECT_TRUE(log.errors.empty()) << log.all();
}

TEST(OneDecoder, DiscoveryLeavesNoFdOpen) {
  REQUIRE_SCENARIO("one");
  CollectingLog log;
  int before = open_fd_count();
  EXPECT_EQ(discover_decoders(log).size(), 1u) << log.all();
  EXPECT_EQ(open_fd_count(), before);
}

TEST(OneDecoder, OutputQueueTakesRequests) {
  REQUIRE_SCENARIO("one");
  std::string reason;
  EXPECT_TRUE(output_supports_requests("/dev/video0", reason)) << reason;
  EXPECT_FALSE(output_supports_requests("/dev/video7", reason));
  EXPECT_NE(reason.find("cannot open /dev/video7"), std::string::npos) << reason;
}

// ---- RK3399-like: hantro on media0/video0, rkvdec on media1/video1 ----

void expect_rk3399_pair(const std::vector<DecoderCapabilities>& decoders) {
  ASSERT_EQ(decoders.size(), 2u);
  EXPECT_EQ(decoders[0].video_path, "/dev/video0");
  EXPECT_EQ(decoders[0].media_path, "/dev/media0");
  EXPECT_EQ(decoders[0].driver_name, "hantro-vpu");
  EXPECT_EQ(decoders[0].format_of(CodecKind::H264)->max_width, 1920u);
  EXPECT_EQ(decoders[0].format_of(CodecKind::H264)->max_height, 1088u);
  EXPECT_EQ(decoders[1].video_path, "/dev/video1");
  EXPECT_EQ(decoders[1].media_path, "/dev/media1");
  EXPECT_EQ(decoders[1].driver_name, "rkvdec");
  EXPECT_EQ(decoders[1].format_of(CodecKind::H264)->max_width, 4096u);
  EXPECT_EQ(decoders[1].format_of(CodecKind::H264)->max_height, 2304u);
}

TEST(TwoDecoders, BothFoundInMediaNodeOrder) {
  REQUIRE_SCENARIO("two");
  CollectingLog log;
  DiscoveryReport report = survey_decoders(DiscoveryOptions{}, log);
  EXPECT_EQ(report.method, DiscoveryMethod::Udev);
  expect_rk3399_pair(report.usable());
  EXPECT_TRUE(log.mentions("using 2 decoder(s)")) << log.all();
}

TEST(TwoDecoders, EachPictureSizeGoesToADecoderThatFitsIt) {
  REQUIRE_SCENARIO("two");
  CollectingLog log;
  std::vector<DecoderCapabilities> decoders = discover_decoders(log);
  ASSERT_EQ(decoders.size(), 2u) << log.all();
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264Main, 1920, 1080, log), &decoders[0]);
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264High, 3840, 2160, log), &decoders[1]);
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264ConstrainedBaseline, 4096, 2304, log), &decoders[1]);
  EXPECT_TRUE(log.mentions("3840x2160 outside 48x48..1920x1088")) << log.all();
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264High, 4112, 2304, log), nullptr);
  EXPECT_EQ(choose_decoder(decoders, VAProfileHEVCMain, 1280, 720, log), nullptr);
}

TEST(TwoDecoders, VainfoShowsTheUnionWithTheLargestSize) {
  REQUIRE_SCENARIO("two");
  CollectingLog log;
  std::vector<DecoderCapabilities> decoders = discover_decoders(log);
  std::vector<VAProfile> profiles = supported_profiles(decoders);
  // hantro adds VP8 (its G1 decodes it), rkvdec H.264 only.
  EXPECT_EQ(profiles, (std::vector<VAProfile>{VAProfileH264Main, VAProfileH264High,
                                              VAProfileH264ConstrainedBaseline, VAProfileVP8Version0_3}));
  PictureSize size = max_picture_size(decoders, VAProfileH264High);
  EXPECT_EQ(size.width, 4096u);
  EXPECT_EQ(size.height, 2304u);
}

TEST(TwoDecoders, WithoutUdevTheDevScanFindsTheSame) {
  REQUIRE_SCENARIO("two");
  CollectingLog log;
  DiscoveryOptions options;
  options.use_udev = false;
  DiscoveryReport report = survey_decoders(options, log);
  EXPECT_EQ(report.method, DiscoveryMethod::DevScan);
  expect_rk3399_pair(report.usable());
  EXPECT_TRUE(log.mentions("udev not used; opening /dev/media0..63 directly")) << log.all();
}

// Overrides, on the two-decoder system.

TEST(Overrides, BothPathsSelectOnlyThatPair) {
  REQUIRE_SCENARIO("two");
  ScopedEnv video("LIBVA_V4L2_REQUEST_VIDEO_PATH", "/dev/video1");
  ScopedEnv media("LIBVA_V4L2_REQUEST_MEDIA_PATH", "/dev/media1");
  CollectingLog log;
  DiscoveryReport report = survey_decoders(options_from_environment(), log);
  EXPECT_EQ(report.method, DiscoveryMethod::Override);
  ASSERT_EQ(report.candidates.size(), 1u) << log.all();
  EXPECT_TRUE(report.candidates[0].usable) << report.candidates[0].rejection;
  EXPECT_EQ(report.candidates[0].capabilities.driver_name, "rkvdec");
  EXPECT_EQ(report.candidates[0].capabilities.media_path, "/dev/media1");
  EXPECT_TRUE(log.errors.empty()) << log.all();
}

TEST(Overrides, VideoPathAloneFindsItsMediaDeviceThroughTheTopology) {
  REQUIRE_SCENARIO("two");
  ScopedEnv video("LIBVA_V4L2_REQUEST_VIDEO_PATH", "/dev/video1");
  ScopedEnv media("LIBVA_V4L2_REQUEST_MEDIA_PATH", nullptr);
  CollectingLog log;
  std::vector<DecoderCapabilities> decoders = discover_decoders(log);
  ASSERT_EQ(decoders.size(), 1u) << log.all();
  EXPECT_EQ(decoders[0].video_path, "/dev/video1");
  EXPECT_EQ(decoders[0].media_path, "/dev/media1");
}

TEST(Overrides, MediaPathAloneFindsItsVideoNode) {
  REQUIRE_SCENARIO("two");
  ScopedEnv video("LIBVA_V4L2_REQUEST_VIDEO_PATH", nullptr);
  ScopedEnv media("LIBVA_V4L2_REQUEST_MEDIA_PATH", "/dev/media1");
  CollectingLog log;
  std::vector<DecoderCapabilities> decoders = discover_decoders(log);
  ASSERT_EQ(decoders.size(), 1u) << log.all();
  EXPECT_EQ(decoders[0].video_path, "/dev/video1");
  EXPECT_EQ(decoders[0].driver_name, "rkvdec");
}

TEST(Overrides, MismatchedPairIsUsedAsConfiguredWithAWarning) {
  REQUIRE_SCENARIO("two");
  ScopedEnv video("LIBVA_V4L2_REQUEST_VIDEO_PATH", "/dev/video0");
  ScopedEnv media("LIBVA_V4L2_REQUEST_MEDIA_PATH", "/dev/media1");
  CollectingLog log;
  std::vector<DecoderCapabilities> decoders = discover_decoders(log);
  ASSERT_EQ(decoders.size(), 1u) << log.all();
  EXPECT_EQ(decoders[0].video_path, "/dev/video0");
  EXPECT_EQ(decoders[0].media_path, "/dev/media1");
  EXPECT_TRUE(log.mentions("/dev/media1 has no decoder entity linked to /dev/video0")) << log.all();
}

TEST(Overrides, MissingNodeIsRejectedByName) {
  REQUIRE_SCENARIO("two");
  ScopedEnv video("LIBVA_V4L2_REQUEST_VIDEO_PATH", "/dev/video9");
  ScopedEnv media("LIBVA_V4L2_REQUEST_MEDIA_PATH", nullptr);
  CollectingLog log;
  EXPECT_TRUE(discover_decoders(log).empty());
  EXPECT_TRUE(log.mentions("LIBVA_V4L2_REQUEST_VIDEO_PATH /dev/video9")) << log.all();
  EXPECT_TRUE(log.mentions("no usable stateless decoder found")) << log.all();
}

TEST(Overrides, MissingMediaNodeIsRejectedByName) {
  REQUIRE_SCENARIO("two");
  ScopedEnv video("LIBVA_V4L2_REQUEST_VIDEO_PATH", "/dev/video0");
  ScopedEnv media("LIBVA_V4L2_REQUEST_MEDIA_PATH", "/dev/media9");
  CollectingLog log;
  EXPECT_TRUE(discover_decoders(log).empty());
  EXPECT_TRUE(log.mentions("cannot open /dev/media9")) << log.all();
}

// ---- the same two devices, listed in the other order ----

TEST(ReversedOrder, OrderFollowsMediaNodeNumbers) {
  REQUIRE_SCENARIO("reversed");
  CollectingLog log;
  std::vector<DecoderCapabilities> decoders = discover_decoders(log);
  ASSERT_EQ(decoders.size(), 2u) << log.all();
  EXPECT_EQ(decoders[0].driver_name, "rkvdec");
  EXPECT_EQ(decoders[0].video_path, "/dev/video0");
  EXPECT_EQ(decoders[1].driver_name, "hantro-vpu");
  // The first that fits wins: rkvdec now takes 1080p too.
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264Main, 1920, 1080, log), &decoders[0]);
}

// ---- different codecs: media0's decoder offers MPEG-2 only (filter) ----

const DecoderCandidate* candidate_for(const DiscoveryReport& report, const std::string& video) {
  for (const auto& c : report.candidates)
    if (c.video_path == video) return &c;
  return nullptr;
}

TEST(DifferentCodecs, DecoderWithoutH264IsRejectedAndTheOtherUsed) {
  REQUIRE_SCENARIO("codecs");
  CollectingLog log;
  DiscoveryReport report = survey_decoders(DiscoveryOptions{}, log);
  ASSERT_EQ(report.candidates.size(), 2u) << log.all();
  const DecoderCandidate* mpeg2 = candidate_for(report, "/dev/video0");
  ASSERT_NE(mpeg2, nullptr) << log.all();
  EXPECT_FALSE(mpeg2->usable);
  EXPECT_NE(mpeg2->rejection.find("offers no coded format the driver decodes"), std::string::npos) << mpeg2->rejection;
  std::vector<DecoderCapabilities> decoders = report.usable();
  ASSERT_EQ(decoders.size(), 1u);
  EXPECT_EQ(decoders[0].video_path, "/dev/video1");
  EXPECT_EQ(decoders[0].driver_name, "rkvdec");
  // With a decoder in use, the other's rejection is information, not an error.
  EXPECT_TRUE(log.errors.empty()) << log.all();
  EXPECT_TRUE(log.mentions("/dev/video0 on /dev/media0 (hantro-vpu) not used")) << log.all();
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264Main, 1280, 720, log), &decoders[0]);
}

// ---- different profiles and sizes: media0's decoder stops at Main, 1280x720 ----

TEST(DifferentProfiles, CapabilitiesComeFromEachDevice) {
  REQUIRE_SCENARIO("profiles");
  CollectingLog log;
  std::vector<DecoderCapabilities> decoders = discover_decoders(log);
  ASSERT_EQ(decoders.size(), 2u) << log.all();
  EXPECT_EQ(decoders[0].format_of(CodecKind::H264)->profiles,
            (std::vector<VAProfile>{VAProfileH264ConstrainedBaseline, VAProfileH264Main}));
  EXPECT_EQ(decoders[0].format_of(CodecKind::H264)->max_width, 1280u);
  EXPECT_EQ(decoders[0].format_of(CodecKind::H264)->max_height, 720u);
  EXPECT_EQ(decoders[1].format_of(CodecKind::H264)->profiles, kEmulatedProfiles);
}

TEST(DifferentProfiles, EachConfigGoesToTheDecoderThatOffersItsProfileAndSize) {
  REQUIRE_SCENARIO("profiles");
  CollectingLog log;
  std::vector<DecoderCapabilities> decoders = discover_decoders(log);
  ASSERT_EQ(decoders.size(), 2u) << log.all();
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264Main, 1280, 720, log), &decoders[0]);
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264High, 1280, 720, log), &decoders[1]);
  EXPECT_TRUE(log.mentions("/dev/video0 (hantro-vpu): no H264High")) << log.all();
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264Main, 1920, 1080, log), &decoders[1]);
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264High, 0, 0, log), &decoders[1]);
}

TEST(DifferentProfiles, VainfoUnionAndSizesPerProfile) {
  REQUIRE_SCENARIO("profiles");
  CollectingLog log;
  std::vector<DecoderCapabilities> decoders = discover_decoders(log);
  EXPECT_EQ(supported_profiles(decoders),
            (std::vector<VAProfile>{VAProfileH264Main, VAProfileH264High, VAProfileH264ConstrainedBaseline,
                                    VAProfileVP8Version0_3}));
  EXPECT_EQ(max_picture_size(decoders, VAProfileH264Main).width, 4096u);
  EXPECT_EQ(max_picture_size(decoders, VAProfileH264High).height, 2304u);
}

TEST(DifferentProfiles, OnlyTheFirstDecoderGivesItsOwnProfilesAndSize) {
  REQUIRE_SCENARIO("profiles");
  ScopedEnv video("LIBVA_V4L2_REQUEST_VIDEO_PATH", "/dev/video0");
  ScopedEnv media("LIBVA_V4L2_REQUEST_MEDIA_PATH", nullptr);
  CollectingLog log;
  std::vector<DecoderCapabilities> decoders = discover_decoders(log);
  ASSERT_EQ(decoders.size(), 1u) << log.all();
  EXPECT_EQ(supported_profiles(decoders),
            (std::vector<VAProfile>{VAProfileH264Main, VAProfileH264ConstrainedBaseline, VAProfileVP8Version0_3}));
  EXPECT_EQ(max_picture_size(decoders, VAProfileH264Main).width, 1280u);
  EXPECT_EQ(choose_decoder(decoders, VAProfileH264High, 640, 480, log), nullptr);
}

// What the driver itself reports through libva for a profile: config
// attributes and surface attributes must agree with discovery.
struct VaView {
  std::vector<VAProfile> profiles;
  uint32_t attrib_max_width = 0, attrib_max_height = 0;
  int surface_max_width = 0, surface_max_height = 0;
};

// Initialises the driver on the emulated render node and reads what vainfo
// and a client see for `profile`; false (with a gtest failure) on error.
bool read_va_view(VAProfile profile, VaView& view) {
  int drm_fd = ::open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC);
  EXPECT_GE(drm_fd, 0);
  if (drm_fd < 0) return false;
  VADisplay display = vaGetDisplayDRM(drm_fd);
  int major = 0, minor = 0;
  bool ok = display && vaInitialize(display, &major, &minor) == VA_STATUS_SUCCESS;
  EXPECT_TRUE(ok) << "vaInitialize";
  if (ok) {
    std::vector<VAProfile> profiles(static_cast<size_t>(vaMaxNumProfiles(display)));
    int count = 0;
    EXPECT_EQ(vaQueryConfigProfiles(display, profiles.data(), &count), VA_STATUS_SUCCESS);
    profiles.resize(static_cast<size_t>(std::max(count, 0)));
    view.profiles = profiles;
    VAConfigAttrib attribs[2] = {{VAConfigAttribMaxPictureWidth, 0}, {VAConfigAttribMaxPictureHeight, 0}};
    EXPECT_EQ(vaGetConfigAttributes(display, profile, VAEntrypointVLD, attribs, 2), VA_STATUS_SUCCESS);
    view.attrib_max_width = attribs[0].value;
    view.attrib_max_height = attribs[1].value;
    VAConfigID config = VA_INVALID_ID;
    if (vaCreateConfig(display, profile, VAEntrypointVLD, nullptr, 0, &config) == VA_STATUS_SUCCESS) {
      unsigned int n = 0;
      EXPECT_EQ(vaQuerySurfaceAttributes(display, config, nullptr, &n), VA_STATUS_SUCCESS);
      std::vector<VASurfaceAttrib> surface_attribs(n);
      EXPECT_EQ(vaQuerySurfaceAttributes(display, config, surface_attribs.data(), &n), VA_STATUS_SUCCESS);
      for (const auto& a : surface_attribs) {
        if (a.type == VASurfaceAttribMaxWidth) view.surface_max_width = a.value.value.i;
        if (a.type == VASurfaceAttribMaxHeight) view.surface_max_height = a.value.value.i;
      }
      vaDestroyConfig(display, config);
    } else {
      ADD_FAILURE() << "vaCreateConfig";
    }
  }
  if (display) vaTerminate(display);
  ::close(drm_fd);
  return ok;
}

TEST(DifferentProfiles, DriverReportsTheUnionAndTheLargestDecodersSize) {
  REQUIRE_SCENARIO("profiles");
  if (!std::getenv("LIBVA_DRIVERS_PATH")) GTEST_SKIP() << "driver not built in this configuration";
  VaView view;
  ASSERT_TRUE(read_va_view(VAProfileH264Main, view));
  std::sort(view.profiles.begin(), view.profiles.end());
  EXPECT_EQ(view.profiles, (std::vector<VAProfile>{VAProfileH264Main, VAProfileH264High,
                                                   VAProfileH264ConstrainedBaseline, VAProfileVP8Version0_3}));
  EXPECT_EQ(view.attrib_max_width, 4096u);
  EXPECT_EQ(view.attrib_max_height, 2304u);
  EXPECT_EQ(view.surface_max_width, 4096);
  EXPECT_EQ(view.surface_max_height, 2304);
}

TEST(DifferentProfiles, DriverOnTheSmallerDecoderReportsItsOwnLimits) {
  REQUIRE_SCENARIO("profiles");
  if (!std::getenv("LIBVA_DRIVERS_PATH")) GTEST_SKIP() << "driver not built in this configuration";
  ScopedEnv video("LIBVA_V4L2_REQUEST_VIDEO_PATH", "/dev/video0");
  ScopedEnv media("LIBVA_V4L2_REQUEST_MEDIA_PATH", nullptr);
  VaView view;
  ASSERT_TRUE(read_va_view(VAProfileH264Main, view));
  std::sort(view.profiles.begin(), view.profiles.end());
  EXPECT_EQ(view.profiles,
            (std::vector<VAProfile>{VAProfileH264Main, VAProfileH264ConstrainedBaseline, VAProfileVP8Version0_3}));
  EXPECT_EQ(view.attrib_max_width, 1280u);
  EXPECT_EQ(view.attrib_max_height, 720u);
  EXPECT_EQ(view.surface_max_width, 1280);
  EXPECT_EQ(view.surface_max_height, 720);
}

// ---- a decoder whose OUTPUT queue does not take requests ----

TEST(NoRequests, DecoderWithoutRequestSupportIsRejectedWithTheReason) {
  REQUIRE_SCENARIO("no-requests");
  CollectingLog log;
  DiscoveryReport report = survey_decoders(DiscoveryOptions{}, log);
  ASSERT_EQ(report.candidates.size(), 1u) << log.all();
  EXPECT_FALSE(report.candidates[0].usable);
  EXPECT_NE(report.candidates[0].rejection.find("does not support requests"), std::string::npos)
      << report.candidates[0].rejection;
  EXPECT_TRUE(report.usable().empty());
  EXPECT_TRUE(log.mentions("no usable stateless decoder found")) << log.all();
}

// ---- no decoder at all ----

TEST(NoDecoder, ClearErrorNamingTheProbeProgram) {
  REQUIRE_SCENARIO("none");
  CollectingLog log;
  EXPECT_TRUE(discover_decoders(log).empty());
  ASSERT_FALSE(log.errors.empty());
  EXPECT_NE(log.errors.back().find("no usable stateless decoder found"), std::string::npos) << log.all();
  EXPECT_NE(log.errors.back().find("v4l2-request-probe"), std::string::npos) << log.all();
}

TEST(NoDecoder, VaInitializeFailsCleanly) {
  REQUIRE_SCENARIO("none");
  if (!std::getenv("LIBVA_DRIVERS_PATH")) GTEST_SKIP() << "driver not built in this configuration";
  int before = open_fd_count();
  int drm_fd = ::open("/dev/dri/renderD128", O_RDWR | O_CLOEXEC);
  ASSERT_GE(drm_fd, 0) << "the emulator serves the render node even without decoders";
  VADisplay display = vaGetDisplayDRM(drm_fd);
  ASSERT_NE(display, nullptr);
  int major = 0, minor = 0;
  EXPECT_NE(vaInitialize(display, &major, &minor), VA_STATUS_SUCCESS);
  vaTerminate(display);
  ::close(drm_fd);
  EXPECT_EQ(open_fd_count(), before);
}

// ---- a sandbox: udev answers but lists no media device ----

TEST(UdevSeesNothing, DevScanFindsTheDecoders) {
  REQUIRE_SCENARIO("sandbox");
  CollectingLog log;
  DiscoveryReport report = survey_decoders(DiscoveryOptions{}, log);
  EXPECT_EQ(report.method, DiscoveryMethod::DevScan);
  expect_rk3399_pair(report.usable());
  EXPECT_TRUE(log.mentions("udev lists no media device; opening /dev/media0..63 directly")) << log.all();
}

// ---- udev lists the media device but not its video node ----

TEST(UdevWithoutVideoNodes, VideoNodeFoundByDeviceNumber) {
  REQUIRE_SCENARIO("udev-media-only");
  CollectingLog log;
  DiscoveryReport report = survey_decoders(DiscoveryOptions{}, log);
  EXPECT_EQ(report.method, DiscoveryMethod::Udev);
  std::vector<DecoderCapabilities> decoders = report.usable();
  ASSERT_EQ(decoders.size(), 1u) << log.all();
  EXPECT_EQ(decoders[0].video_path, "/dev/video0");
}

// ---- Firefox's RDD sandbox: the broker refuses what its policy does not name ----

size_t lines_with(const std::vector<std::string>& lines, const std::string& text) {
  return static_cast<size_t>(std::count_if(lines.begin(), lines.end(), [&](const std::string& line) {
    return line.find(text) != std::string::npos;
  }));
}

TEST(BrokerStockPolicy, EveryRefusedMediaNodeIsReportedInOneLine) {
  REQUIRE_SCENARIO("broker-stock");
  CollectingLog log;
  DiscoveryReport report = survey_decoders(DiscoveryOptions{}, log);
  EXPECT_EQ(report.method, DiscoveryMethod::DevScan);
  EXPECT_TRUE(report.usable().empty()) << log.all();
  // One line for /dev/media0..63 and the final verdict: nothing else.
  EXPECT_EQ(log.errors.size(), 2u) << log.all();
  EXPECT_EQ(lines_with(log.errors, "not used"), 1u) << log.all();
  EXPECT_TRUE(log.mentions("/dev/media0..63 not used: stat() refused: Permission denied")) << log.all();
  EXPECT_TRUE(log.mentions("docs/firefox.md")) << log.all();
  EXPECT_FALSE(log.mentions("cannot open /dev/media")) << log.all();
}

TEST(BrokerStockPolicy, RefusedNodesAreNotOpened) {
  REQUIRE_SCENARIO("broker-stock");
  CollectingLog log;
  DiscoveryReport report = survey_decoders(DiscoveryOptions{}, log);
  ASSERT_EQ(report.candidates.size(), 1u) << log.all();
  EXPECT_TRUE(report.candidates[0].access_denied);
  EXPECT_EQ(report.candidates[0].media_path, "/dev/media0..63");
}

TEST(BrokerStockPolicy, NamedNodesRefusedAreOneClearLine) {
  REQUIRE_SCENARIO("broker-stock");
  ScopedEnv video("LIBVA_V4L2_REQUEST_VIDEO_PATH", "/dev/video0");
  ScopedEnv media("LIBVA_V4L2_REQUEST_MEDIA_PATH", "/dev/media0");
  CollectingLog log;
  EXPECT_TRUE(discover_decoders(log).empty());
  EXPECT_EQ(lines_with(log.errors, "not used"), 1u) << log.all();
  EXPECT_TRUE(log.mentions("Permission denied")) << log.all();
}

TEST(BrokerAllowsTheDecoder, DecoderFoundWithoutComplaints) {
  REQUIRE_SCENARIO("broker-allows-decoder");
  CollectingLog log;
  DiscoveryReport report = survey_decoders(DiscoveryOptions{}, log);
  std::vector<DecoderCapabilities> decoders = report.usable();
  ASSERT_EQ(decoders.size(), 1u) << log.all();
  EXPECT_EQ(decoders[0].video_path, "/dev/video0");
  EXPECT_TRUE(log.errors.empty()) << log.all();
  EXPECT_FALSE(log.mentions("not used")) << log.all();
}

}  // namespace
}  // namespace v4l2va
