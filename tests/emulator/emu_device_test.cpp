// What clients see of the emulated nodes: capabilities, topology, formats,
// controls, the DRM render node, fd semantics and device configuration.
#include <drm.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include "emu_test_support.h"

namespace emu::test {
namespace {

using DeviceTest = EmulatorTest;

TEST_F(DeviceTest, QuerycapReportsMultiplanarM2m) {
  const int video = open_node("/dev/video0");
  ASSERT_GE(video, 0);
  v4l2_capability cap{};
  ASSERT_EQ(xioctl(video, VIDIOC_QUERYCAP, &cap), 0);
  EXPECT_STREQ(reinterpret_cast<char*>(cap.driver), "hantro-vpu");
  EXPECT_TRUE(cap.device_caps & V4L2_CAP_VIDEO_M2M_MPLANE);
  EXPECT_TRUE(cap.device_caps & V4L2_CAP_STREAMING);
  EXPECT_GE(cap.version, (5u << 16) | (11u << 8));  // GStreamer's v4l2codecs minimum
}

TEST_F(DeviceTest, TopologyHasDecoderLinkedToVideoInterface) {
  const int media = open_node("/dev/media0");
  media_v2_topology topology{};
  ASSERT_EQ(xioctl(media, MEDIA_IOC_G_TOPOLOGY, &topology), 0);
  ASSERT_EQ(topology.num_entities, 3u);
  std::vector<media_v2_entity> entities(topology.num_entities);
  std::vector<media_v2_interface> interfaces(topology.num_interfaces);
  std::vector<media_v2_pad> pads(topology.num_pads);
  std::vector<media_v2_link> links(topology.num_links);
  topology.ptr_entities = reinterpret_cast<uintptr_t>(entities.data());
  topology.ptr_interfaces = reinterpret_cast<uintptr_t>(interfaces.data());
  topology.ptr_pads = reinterpret_cast<uintptr_t>(pads.data());
  topology.ptr_links = reinterpret_cast<uintptr_t>(links.data());
  ASSERT_EQ(xioctl(media, MEDIA_IOC_G_TOPOLOGY, &topology), 0);
  int decoders = 0;
  for (const auto& e : entities) decoders += e.function == MEDIA_ENT_F_PROC_VIDEO_DECODER;
  EXPECT_EQ(decoders, 1);
  ASSERT_EQ(interfaces.size(), 1u);
  EXPECT_EQ(interfaces[0].intf_type, MEDIA_INTF_T_V4L_VIDEO);
  EXPECT_EQ(interfaces[0].devnode.major, 81u);
  EXPECT_EQ(interfaces[0].devnode.minor, 0u);
  int interface_links = 0;
  for (const auto& l : links)
    if ((l.flags & MEDIA_LNK_FL_LINK_TYPE) == MEDIA_LNK_FL_INTERFACE_LINK) {
      EXPECT_EQ(l.source_id, interfaces[0].id);
      for (const auto& e : entities) {
        if (e.id == l.sink_id) {
          EXPECT_EQ(e.function, MEDIA_ENT_F_IO_V4L);
        }
      }
      ++interface_links;
    }
  EXPECT_EQ(interface_links, 2);
  // Too small an array: filled as far as it goes, full count, ENOSPC.
  topology.num_entities = 1;
  EXPECT_EQ(xioctl(media, MEDIA_IOC_G_TOPOLOGY, &topology), -ENOSPC);
  EXPECT_EQ(topology.num_entities, 3u);
}

TEST_F(DeviceTest, FormatsAndFrameSizes) {
  const int video = open_node("/dev/video0");
  v4l2_fmtdesc desc{};
  desc.type = kOut;
  ASSERT_EQ(xioctl(video, VIDIOC_ENUM_FMT, &desc), 0);
  EXPECT_EQ(desc.pixelformat, V4L2_PIX_FMT_H264_SLICE);
  // hantro's G1 lists VP8_FRAME after H264_SLICE (rockchip_vpu_hw.c).
  desc.index = 1;
  ASSERT_EQ(xioctl(video, VIDIOC_ENUM_FMT, &desc), 0);
  EXPECT_EQ(desc.pixelformat, V4L2_PIX_FMT_VP8_FRAME);
  desc.index = 2;
  EXPECT_EQ(xioctl(video, VIDIOC_ENUM_FMT, &desc), -EINVAL);
  desc = {};
  desc.type = kCap;
  ASSERT_EQ(xioctl(video, VIDIOC_ENUM_FMT, &desc), 0);
  EXPECT_EQ(desc.pixelformat, V4L2_PIX_FMT_NV12);
  v4l2_frmsizeenum sizes{};
  sizes.pixel_format = V4L2_PIX_FMT_H264_SLICE;
  ASSERT_EQ(xioctl(video, VIDIOC_ENUM_FRAMESIZES, &sizes), 0);
  EXPECT_EQ(sizes.type, static_cast<uint32_t>(V4L2_FRMSIZE_TYPE_STEPWISE));
  EXPECT_EQ(sizes.stepwise.max_width, 1920u);
  EXPECT_EQ(sizes.stepwise.max_height, 1088u);
  EXPECT_EQ(sizes.stepwise.min_width, 48u);
  EXPECT_EQ(sizes.stepwise.step_width, 16u);
  // Each coded format has its own limits: VP8 up to FMT_UHD.
  sizes.pixel_format = V4L2_PIX_FMT_VP8_FRAME;
  ASSERT_EQ(xioctl(video, VIDIOC_ENUM_FRAMESIZES, &sizes), 0);
  EXPECT_EQ(sizes.stepwise.max_width, 3840u);
  EXPECT_EQ(sizes.stepwise.max_height, 2160u);
  sizes.pixel_format = V4L2_PIX_FMT_NV12;
  EXPECT_EQ(xioctl(video, VIDIOC_ENUM_FRAMESIZES, &sizes), -EINVAL);
}

TEST_F(DeviceTest, ReqbufsReportsRequestSupportOnOutput) {
  const int video = open_node("/dev/video0");
  v4l2_requestbuffers request{};
  ASSERT_EQ(reqbufs(video, kOut, 4, &request), 0);
  EXPECT_EQ(request.count, 4u);
  EXPECT_TRUE(request.capabilities & V4L2_BUF_CAP_SUPPORTS_REQUESTS);
  ASSERT_EQ(reqbufs(video, kCap, 100, &request), 0);
  EXPECT_EQ(request.count, 32u);
  EXPECT_FALSE(request.capabilities & V4L2_BUF_CAP_SUPPORTS_REQUESTS);
}

TEST_F(DeviceTest, ControlSizesMatchTheUapi) {
  const int video = open_node("/dev/video0");
  struct Expected { uint32_t id; uint32_t size; } expected[] = {
      {V4L2_CID_STATELESS_H264_SPS, 1048}, {V4L2_CID_STATELESS_H264_PPS, 12},
      {V4L2_CID_STATELESS_H264_DECODE_PARAMS, 560},
      {V4L2_CID_STATELESS_H264_SCALING_MATRIX, sizeof(v4l2_ctrl_h264_scaling_matrix)}};
  for (const auto& e : expected) {
    v4l2_query_ext_ctrl query{};
    query.id = e.id;
    ASSERT_EQ(xioctl(video, VIDIOC_QUERY_EXT_CTRL, &query), 0);
    EXPECT_EQ(query.elem_size, e.size);
    EXPECT_TRUE(query.flags & V4L2_CTRL_FLAG_HAS_PAYLOAD);
  }
  v4l2_query_ext_ctrl query{};
  query.id = V4L2_CID_STATELESS_H264_SLICE_PARAMS;  // frame-based hantro has none
  EXPECT_EQ(xioctl(video, VIDIOC_QUERY_EXT_CTRL, &query), -EINVAL);
}

TEST_F(DeviceTest, ControlEnumerationVisitsEveryControlInIdOrder) {
  const int video = open_node("/dev/video0");
  std::vector<uint32_t> ids;
  v4l2_query_ext_ctrl query{};
  query.id = V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND;
  while (xioctl(video, VIDIOC_QUERY_EXT_CTRL, &query) == 0) {
    ids.push_back(query.id);
    query.id |= V4L2_CTRL_FLAG_NEXT_CTRL | V4L2_CTRL_FLAG_NEXT_COMPOUND;
  }
  // 2 classes, profile, level, mode, start code, 4 H.264 compound, VP8 frame
  ASSERT_EQ(ids.size(), 11u);
  EXPECT_TRUE(std::is_sorted(ids.begin(), ids.end()));
  v4l2_querymenu menu{};
  menu.id = V4L2_CID_MPEG_VIDEO_H264_PROFILE;
  menu.index = V4L2_MPEG_VIDEO_H264_PROFILE_EXTENDED;
  EXPECT_EQ(xioctl(video, VIDIOC_QUERYMENU, &menu), -EINVAL);
  menu.index = V4L2_MPEG_VIDEO_H264_PROFILE_HIGH;
  ASSERT_EQ(xioctl(video, VIDIOC_QUERYMENU, &menu), 0);
  EXPECT_STREQ(reinterpret_cast<char*>(menu.name), "High");
}

TEST_F(DeviceTest, RenderNodeLooksLikeDrmToLibdrm) {
  const int render = open_node("/dev/dri/renderD128", O_RDWR | O_CLOEXEC);
  ASSERT_GE(render, 0);
  struct stat st {};
  ASSERT_EQ(::fstat(render, &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode));
  EXPECT_EQ(major(st.st_rdev), 226u);
  EXPECT_EQ(minor(st.st_rdev), 128u);
  struct stat dir {};
  ASSERT_EQ(::stat("/sys/dev/char/226:128/device/drm", &dir), 0);
  EXPECT_TRUE(S_ISDIR(dir.st_mode));
  char name[4] = {};
  drm_version version{};
  version.name = name;
  version.name_len = sizeof(name);
  ASSERT_EQ(xioctl(render, DRM_IOCTL_VERSION, &version), 0);
  EXPECT_EQ(version.name_len, std::strlen("rockchip"));
  EXPECT_EQ(std::string(name, 4), "rock");
}

TEST_F(DeviceTest, DupSharesTheInstanceAndSurvivesClosingTheOriginal) {
  const int video = open_node("/dev/video0");
  ASSERT_EQ(reqbufs(video, kCap, 3), 0);
  const int copy = ::dup(video);
  ASSERT_GE(copy, 0);
  open_fds_.push_back(copy);
  const int copy2 = ::fcntl(video, F_DUPFD_CLOEXEC, 100);
  ASSERT_GE(copy2, 100);
  open_fds_.push_back(copy2);
  close_fd(video);
  struct stat st {};
  ASSERT_EQ(::fstat(copy, &st), 0);
  EXPECT_EQ(st.st_rdev, makedev(81, 0));
  v4l2_plane plane{};
  v4l2_buffer buffer{};
  buffer.type = kCap;
  buffer.memory = V4L2_MEMORY_MMAP;
  buffer.index = 2;  // exists only in the instance the original opened
  buffer.m.planes = &plane;
  buffer.length = 1;
  EXPECT_EQ(xioctl(copy, VIDIOC_QUERYBUF, &buffer), 0);
  EXPECT_EQ(xioctl(copy2, VIDIOC_QUERYBUF, &buffer), 0);
  // A second open is a separate m2m instance without buffers.
  const int other = open_node("/dev/video0");
  EXPECT_EQ(xioctl(other, VIDIOC_QUERYBUF, &buffer), -EINVAL);
}

TEST_F(DeviceTest, ClosedFdNumberReusedByARealFileIsNotEmulated) {
  const int video = open_node("/dev/video0");
  close_fd(video);
  const int real = ::open("/dev/null", O_RDWR);
  ASSERT_GE(real, 0);
  v4l2_capability cap{};
  EXPECT_EQ(xioctl(real, VIDIOC_QUERYCAP, &cap), -ENOTTY);  // the real /dev/null answers
  ::close(real);
}

// v4l-utils classifies a node by /sys/dev/char/MAJ:MIN/uevent (read with fopen).
TEST_F(DeviceTest, SysfsUeventNamesTheNode) {
  FILE* uevent = std::fopen("/sys/dev/char/81:0/uevent", "r");
  ASSERT_NE(uevent, nullptr);
  char text[128] = {};
  const size_t length = std::fread(text, 1, sizeof(text) - 1, uevent);
  std::fclose(uevent);
  EXPECT_EQ(std::string(text, length), "MAJOR=81\nMINOR=0\nDEVNAME=video0\n");
  EXPECT_EQ(std::fopen("/sys/dev/char/81:7/uevent", "r"), nullptr);  // no such device
}

TEST_F(DeviceTest, DeviceListCreatesNumberedNodes) {
  configure({"hantro", "rkvdec"});
  const int video1 = open_node("/dev/video1");
  ASSERT_GE(video1, 0);
  v4l2_capability cap{};
  ASSERT_EQ(xioctl(video1, VIDIOC_QUERYCAP, &cap), 0);
  EXPECT_STREQ(reinterpret_cast<char*>(cap.driver), "rkvdec");
  struct stat st {};
  ASSERT_EQ(::stat("/dev/media1", &st), 0);
  EXPECT_EQ(st.st_rdev, makedev(238, 1));
  EXPECT_EQ(::access("/dev/video1", R_OK | W_OK), 0);
  v4l2_frmsizeenum sizes{};
  sizes.pixel_format = V4L2_PIX_FMT_H264_SLICE;
  ASSERT_EQ(xioctl(video1, VIDIOC_ENUM_FRAMESIZES, &sizes), 0);
  EXPECT_EQ(sizes.stepwise.max_width, 4096u);
}

TEST_F(DeviceTest, NoDevicesLeavesOnlyTheRenderNode) {
  configure({});
  EXPECT_LT(::open("/dev/video0", O_RDWR), 0);
  EXPECT_LT(::open("/dev/media0", O_RDWR), 0);
  EXPECT_GE(open_node("/dev/dri/renderD128"), 0);
}

TEST_F(DeviceTest, EnvironmentSelectsDevices) {
  ::setenv("V4L2_EMU_DEVICES", "rkvdec,hantro", 1);
  EmulatorConfig config = EmulatorConfig::from_environment();
  EXPECT_EQ(config.device_profiles, (std::vector<std::string>{"rkvdec", "hantro"}));
  ::setenv("V4L2_EMU_DEVICES", "", 1);
  ::setenv("V4L2_EMU_NO_DEVICES", "1", 1);
  EXPECT_TRUE(EmulatorConfig::from_environment().device_profiles.empty());
  ::unsetenv("V4L2_EMU_DEVICES");
  ::unsetenv("V4L2_EMU_NO_DEVICES");
  ::setenv("V4L2_EMU_PROFILE", "rkvdec", 1);
  EXPECT_EQ(EmulatorConfig::from_environment().device_profiles,
            (std::vector<std::string>{"rkvdec"}));
  ::unsetenv("V4L2_EMU_PROFILE");
}

}  // namespace
}  // namespace emu::test
