#include "sim/sim_config.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <map>

namespace dr::sim {
namespace {

using std::chrono::milliseconds;
using std::chrono::seconds;

EnvLookup env_of(std::map<std::string, std::string> vars) {
  return [vars = std::move(vars)](const char* name) -> std::optional<std::string> {
    auto it = vars.find(name);
    if (it == vars.end()) return std::nullopt;
    return it->second;
  };
}

Result<SimCommand> parse(std::vector<std::string> args,
                         std::map<std::string, std::string> env = {}) {
  return parse_sim_command(args, env_of(std::move(env)));
}

std::string temp_file(const std::string& content) {
  char path[] = "/tmp/sim_config_test_XXXXXX";
  int fd = mkstemp(path);
  EXPECT_GE(fd, 0);
  EXPECT_EQ(write(fd, content.data(), content.size()), static_cast<ssize_t>(content.size()));
  close(fd);
  return path;
}

TEST(SimConfig, Defaults) {
  auto cmd = parse({});
  ASSERT_TRUE(cmd.ok()) << cmd.error().message;
  const SimConfig& c = cmd->config;
  EXPECT_EQ(cmd->kind, SimCommand::Kind::kRun);
  EXPECT_EQ(c.listen, "127.0.0.1");
  EXPECT_EQ(c.port, 8080);
  EXPECT_EQ(c.threads, 1);
  EXPECT_EQ(c.seed, 1u);
  EXPECT_EQ(c.api_key, "sim-api-key");
  EXPECT_EQ(c.hmac_secret, "sim-hmac-secret");
  EXPECT_TRUE(c.demo_credentials);
  EXPECT_DOUBLE_EQ(c.outcomes.completed, 0.6);
  EXPECT_EQ(c.hold_limit, seconds(30));
  EXPECT_FALSE(c.rate_limit.has_value());
}

TEST(SimConfig, EveryFlag) {
  auto cmd = parse({"--listen",
                    "0.0.0.0",
                    "--port=0",
                    "--threads",
                    "2",
                    "--seed",
                    "7",
                    "--outcomes",
                    "completed=1",
                    "--new-for",
                    "2s",
                    "--preload",
                    "1000000",
                    "--preload-file",
                    "/tmp/x.csv",
                    "--accept-any-token",
                    "--latency",
                    "5ms",
                    "--latency-jitter",
                    "1.5s",
                    "--fault-500",
                    "0.1",
                    "--fault-503",
                    "0.1",
                    "--fault-timeout",
                    "0.1",
                    "--fault-malformed",
                    "0.1",
                    "--fault-oversize",
                    "0.1",
                    "--fault-unknown-state",
                    "0.1",
                    "--hold-limit",
                    "1m",
                    "--fail-first",
                    "3",
                    "--rate-limit",
                    "50",
                    "--force-status",
                    "403",
                    "--track-tokens",
                    "--verbose"});
  ASSERT_TRUE(cmd.ok()) << cmd.error().message;
  const SimConfig& c = cmd->config;
  EXPECT_EQ(c.listen, "0.0.0.0");
  EXPECT_EQ(c.port, 0);
  EXPECT_EQ(c.threads, 2);
  EXPECT_EQ(c.seed, 7u);
  EXPECT_DOUBLE_EQ(c.outcomes.completed, 1.0);
  EXPECT_DOUBLE_EQ(c.outcomes.expired, 0.0);
  EXPECT_EQ(c.new_for, seconds(2));
  EXPECT_EQ(c.preload, 1'000'000u);
  EXPECT_EQ(c.preload_file, "/tmp/x.csv");
  EXPECT_TRUE(c.accept_any_token);
  EXPECT_EQ(c.latency, milliseconds(5));
  EXPECT_EQ(c.latency_jitter, milliseconds(1500));
  EXPECT_DOUBLE_EQ(c.faults.sum(), 0.6);
  EXPECT_EQ(c.hold_limit, seconds(60));
  EXPECT_EQ(c.fail_first, 3u);
  ASSERT_TRUE(c.rate_limit.has_value());
  EXPECT_EQ(c.rate_limit->to_string(), "50");
  EXPECT_EQ(c.force_status, 403);
  EXPECT_TRUE(c.track_tokens);
  EXPECT_TRUE(c.verbose);
}

TEST(SimConfig, RateLimitOnASchedule) {
  auto cmd = parse({"--rate-limit", "900,300@20s,900@40s"});
  ASSERT_TRUE(cmd.ok()) << cmd.error().message;
  ASSERT_TRUE(cmd->config.rate_limit.has_value());
  EXPECT_EQ(cmd->config.rate_limit->steps.size(), 3u);
  EXPECT_EQ(cmd->config.rate_limit->rate_at(seconds(25)), 300u);
  auto none = parse({"--rate-limit", "0"});
  ASSERT_TRUE(none.ok());
  EXPECT_FALSE(none->config.rate_limit.has_value());
}

TEST(SimConfig, HelpAndVersion) {
  EXPECT_EQ(parse({"--port", "1", "--help"})->kind, SimCommand::Kind::kHelp);
  EXPECT_EQ(parse({"--version"})->kind, SimCommand::Kind::kVersion);
  EXPECT_NE(sim_usage().find("sim-api-key"), std::string::npos);  // says what the demo key is
}

TEST(SimConfig, BadFlagsNameTheFlag) {
  struct Case {
    std::vector<std::string> args;
    std::string mentions;
  } cases[] = {
      {{"--bogus"}, "--bogus"},
      {{"--port"}, "--port needs a value"},
      {{"--port", "65536"}, "--port"},
      {{"--port", "12ab"}, "--port"},
      {{"--threads", "0"}, "--threads"},
      {{"--fault-500", "1.5"}, "--fault-500"},
      {{"--fault-500", "0.6", "--fault-503", "0.6"}, "more than 1"},
      {{"--latency", "5"}, "duration"},
      {{"--rate-limit", "900,300"}, "--rate-limit"},
      {{"--rate-limit", "900,300@20s,100@10s"}, "increase"},
      {{"--latency", "5x"}, "duration"},
      {{"--outcomes", "completed=2"}, "completed"},
      {{"--force-status", "42"}, "--force-status"},
      {{"--preload-file", "/tmp/x.csv"}, "--preload"},
      {{"--track-tokens=yes"}, "takes no value"},
      {{"--listen", ""}, "--listen"},
  };
  for (const auto& c : cases) {
    auto cmd = parse(c.args);
    ASSERT_FALSE(cmd.ok()) << c.args[0];
    EXPECT_EQ(cmd.error().code, ErrorCode::kInvalidArgument);
    EXPECT_NE(cmd.error().message.find(c.mentions), std::string::npos)
        << cmd.error().message << " should mention " << c.mentions;
  }
}

TEST(SimConfig, SecretsOnTheCommandLineAreRefusedWithoutEchoingThem) {
  for (std::vector<std::string> args : {std::vector<std::string>{"--api-key", "hunter2"},
                                        {"--api-key=hunter2"},
                                        {"--hmac-secret", "hunter2"},
                                        {"hunter2"}}) {
    auto cmd = parse(args);
    ASSERT_FALSE(cmd.ok());
    EXPECT_EQ(cmd.error().message.find("hunter2"), std::string::npos) << cmd.error().message;
  }
}

TEST(SimConfig, SecretsFromEnvironment) {
  auto cmd = parse({}, {{"GATEWAY_API_KEY", "k1"}, {"GATEWAY_HMAC_SECRET", "s1"}});
  ASSERT_TRUE(cmd.ok()) << cmd.error().message;
  EXPECT_EQ(cmd->config.api_key, "k1");
  EXPECT_EQ(cmd->config.hmac_secret, "s1");
  EXPECT_FALSE(cmd->config.demo_credentials);
}

TEST(SimConfig, SecretsFromFilesBeatTheEnvironment) {
  std::string key_file = temp_file("file-key\n");
  std::string secret_file = temp_file("file-secret");
  auto cmd = parse({"--api-key-file", key_file, "--hmac-secret-file", secret_file},
                   {{"GATEWAY_API_KEY", "env-key"}, {"GATEWAY_HMAC_SECRET", "env-secret"}});
  ASSERT_TRUE(cmd.ok()) << cmd.error().message;
  EXPECT_EQ(cmd->config.api_key, "file-key");
  EXPECT_EQ(cmd->config.hmac_secret, "file-secret");

  auto via_env_file = parse({}, {{"GATEWAY_API_KEY_FILE", key_file}});
  ASSERT_TRUE(via_env_file.ok());
  EXPECT_EQ(via_env_file->config.api_key, "file-key");
  EXPECT_EQ(via_env_file->config.hmac_secret, "sim-hmac-secret");
  EXPECT_TRUE(via_env_file->config.demo_credentials);
  std::remove(key_file.c_str());
  std::remove(secret_file.c_str());
}

TEST(SimConfig, UnreadableSecretFileIsAnErrorWithoutContent) {
  auto cmd = parse({"--api-key-file", "/nonexistent/key"});
  ASSERT_FALSE(cmd.ok());
  EXPECT_NE(cmd.error().message.find("/nonexistent/key"), std::string::npos);
  std::string empty = temp_file("\n");
  EXPECT_FALSE(parse({"--hmac-secret-file", empty}).ok());
  std::remove(empty.c_str());
}

TEST(SimConfig, Durations) {
  EXPECT_EQ(*parse_duration("0"), domain::Duration{0});
  EXPECT_EQ(*parse_duration("250ms"), milliseconds(250));
  EXPECT_EQ(*parse_duration("30s"), seconds(30));
  EXPECT_EQ(*parse_duration("1.5s"), milliseconds(1500));
  EXPECT_EQ(*parse_duration("5m"), std::chrono::minutes(5));
  EXPECT_EQ(*parse_duration("2h"), std::chrono::hours(2));
  EXPECT_EQ(*parse_duration("1d"), std::chrono::hours(24));
  for (const char* bad : {"", "s", "5", "-1s", "1.2.3s", "5 s", "1e3s", "1w"}) {
    EXPECT_FALSE(parse_duration(bad).ok()) << bad;
  }
}

}  // namespace
}  // namespace dr::sim
