// The `loom plan` command line end to end through the loom-plan driver, and the HTML report in headless
// Chromium (skipped when Chromium is not installed).
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>

namespace {

namespace fs = std::filesystem;

struct Proc {
  int rc = -1;
  std::string out, err;
};

std::string slurp(const fs::path& p) {
  std::ifstream f(p, std::ios::binary);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

class PlanCli : public ::testing::Test {
 protected:
  void SetUp() override {
    dir_ = fs::temp_directory_path() / ("loom-plan-test-" + std::to_string(::getpid()));
    fs::create_directories(dir_);
  }
  void TearDown() override {
    std::error_code ec;
    fs::remove_all(dir_, ec);
  }
  // Runs a shell command with a hard timeout; stdout and stderr are captured separately.
  Proc sh(const std::string& cmd, int timeoutS = 60) {
    const fs::path out = dir_ / "stdout", err = dir_ / "stderr";
    const std::string full = "timeout -k 5 " + std::to_string(timeoutS) + " " + cmd + " >" + out.string() + " 2>" +
                             err.string();
    Proc r;
    const int status = std::system(full.c_str());
    r.rc = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    r.out = slurp(out);
    r.err = slurp(err);
    return r;
  }
  Proc plan(const std::string& args) { return sh(std::string(PLAN_BIN) + " " + args); }
  fs::path dir_;
};

TEST_F(PlanCli, HelpOnEveryCommand) {
  Proc r = plan("--help");
  EXPECT_EQ(r.rc, 0);
  EXPECT_NE(r.out.find("--model"), std::string::npos);
  EXPECT_NE(r.out.find("recommend"), std::string::npos);
  Proc rec = plan("recommend --help");
  EXPECT_EQ(rec.rc, 0);
  EXPECT_NE(rec.out.find("--max-gpus"), std::string::npos);
}

TEST_F(PlanCli, JsonPlanHasEveryOutput) {
  Proc r = plan("-m llama-3.1-8b --method lora --lora-targets all-linear -g a100-80gb-sxm --gpus-per-node 8 "
               "--sharding zero2 --recompute full --tokens 200M --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["model"]["name"], "llama-3.1-8b");
  EXPECT_EQ(j["config"]["lora"]["targets"], "all-linear");
  EXPECT_TRUE(j["memory"]["fits"].get<bool>());
  EXPECT_GE(j["memory"]["items"].size(), 8u);
  double sum = 0;
  for (const auto& i : j["memory"]["items"]) sum += i["bytes"].get<double>();
  EXPECT_NEAR(sum, j["memory"]["per_gpu_bytes"].get<double>(), 1);
  EXPECT_GT(j["memory"]["max_micro_batch"].get<int>(), 1);
  EXPECT_GT(j["time"]["step_s"].get<double>(), 0);
  EXPECT_GE(j["time"]["network_share"].get<double>(), 0);
  EXPECT_GT(j["throughput"]["cost_usd"].get<double>(), 0);
  EXPECT_FALSE(j["throughput"]["price_source"].get<std::string>().empty());
}

TEST_F(PlanCli, TableAndMarkdown) {
  Proc t = plan("-m mistral-7b --method qlora -g rtx-4090 --recompute full");
  ASSERT_EQ(t.rc, 0) << t.err;
  EXPECT_NE(t.out.find("FITS"), std::string::npos) << t.out;
  EXPECT_NE(t.out.find("activations"), std::string::npos);
  Proc md = plan("-m mistral-7b -g h100-sxm --markdown");
  ASSERT_EQ(md.rc, 0);
  EXPECT_NE(md.out.find("| --- |"), std::string::npos);
  EXPECT_NE(md.out.find("DOES NOT FIT"), std::string::npos);
}

TEST_F(PlanCli, ConfigJsonAndRawParams) {
  const fs::path cfg = dir_ / "config.json";
  std::ofstream(cfg) << R"({"model_type":"qwen2","hidden_size":896,"intermediate_size":4864,"num_attention_heads":14,
    "num_hidden_layers":24,"num_key_value_heads":2,"vocab_size":151936,"tie_word_embeddings":true})";
  Proc r = plan("-m " + cfg.string() + " -g rtx-4090 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  EXPECT_NEAR(nlohmann::json::parse(r.out)["model"]["params_total"].get<double>(), 494032768.0, 5e6);
  Proc p = plan("--params 7B -g a100-80gb-sxm --json");
  ASSERT_EQ(p.rc, 0) << p.err;
  EXPECT_NEAR(nlohmann::json::parse(p.out)["model"]["params_total"].get<double>(), 7e9, 7e6);
}

TEST_F(PlanCli, BadInputsGiveClearErrors) {
  struct Case {
    std::string args, fragment;
  };
  const fs::path broken = dir_ / "broken.json";
  std::ofstream(broken) << R"({"hidden_size":4096,"num_attention_heads":32,"vocab_size":32000,
    "intermediate_size":11008})";
  // Topology files with a field of the wrong type or out of range (each once ended the tool with
  // an uncaught exception or a cast out of range).
  const fs::path topoText = dir_ / "topo-text.json", topoHuge = dir_ / "topo-huge.json", topoGpu = dir_ / "topo-gpu.json";
  std::ofstream(topoText) << R"({"nodes": "two"})";
  std::ofstream(topoHuge) << R"({"gpus_per_node": 1e97})";
  std::ofstream(topoGpu) << R"({"gpu": 3})";
  for (const Case& c : {Case{"-m llama-99b", "unknown model 'llama-99b'"}, Case{"-m llama-2-7b -g tpu-v9", "unknown GPU 'tpu-v9'"},
                        Case{"-m llama-2-7b -b 0", "--micro-batch must be positive"},
                        Case{"-m llama-2-7b -s -5", "--seq-len must be positive"},
                        Case{"-m llama-2-7b --method dora", "unknown method 'dora'"},
                        Case{"-m " + broken.string(), "num_hidden_layers"},
                        Case{"-m " + (dir_ / "missing.json").string(), "cannot read"},
                        Case{"-m falcon-7b --method lora --lora-targets q,gate", "no gate projection"},
                        Case{"--params -3B", "--params must be positive"},
                        Case{"-m llama-2-7b --tokens lots", "--tokens"},
                        Case{"-m llama-2-7b --network carrier-pigeon --nodes 2", "unknown network"},
                        Case{"-m llama-2-7b --topology " + topoText.string(), "nodes must be a number, got \"two\""},
                        Case{"-m llama-2-7b --topology " + topoHuge.string(), "gpus_per_node 1e+97 is out of range"},
                        Case{"-m llama-2-7b --topology " + topoGpu.string(), "gpu must be a string, got 3"},
                        Case{"", "no model"}}) {
    Proc r = plan(c.args);
    EXPECT_EQ(r.rc, 1) << c.args;
    EXPECT_NE(r.err.find(c.fragment), std::string::npos) << c.args << " -> " << r.err;
  }
  Proc usage = plan("-m llama-2-7b --no-such-flag");
  EXPECT_EQ(usage.rc, 2);
}

TEST_F(PlanCli, RecommendJsonAndLists) {
  Proc r = plan("recommend -m llama-3.1-8b --method qlora --tokens 100M --gpus rtx-4090,h100-sxm --max-gpus 8 --json");
  ASSERT_EQ(r.rc, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["fitting_count"].get<int>(), 0);
  EXPECT_FALSE(j["by_cost"].empty());
  EXPECT_EQ(j["gpus"].size(), 2u);
  Proc lm = plan("--list-models");
  EXPECT_EQ(lm.rc, 0);
  EXPECT_NE(lm.out.find("mixtral-8x7b"), std::string::npos);
  Proc lg = plan("--list-gpus");
  EXPECT_NE(lg.out.find("gaudi3"), std::string::npos);
  EXPECT_NE(lg.out.find("ib-ndr"), std::string::npos);
}

std::string findChromium() {
  for (const char* name : {"chromium", "chromium-browser", "google-chrome"}) {
    const std::string cmd = std::string("command -v ") + name + " >/dev/null 2>&1";
    if (std::system(cmd.c_str()) == 0) return name;
  }
  return "";
}

TEST_F(PlanCli, HtmlReportRendersInHeadlessChromium) {
  const fs::path html = dir_ / "report.html";
  Proc r = plan("recommend -m llama-3.1-70b --method lora --tokens 1B --max-gpus 16 --top 8 --html " + html.string());
  ASSERT_EQ(r.rc, 0) << r.err;
  const std::string page = slurp(html);
  ASSERT_NE(page.find("<svg"), std::string::npos);
  EXPECT_NE(page.find("id=\"memory\""), std::string::npos);
  EXPECT_NE(page.find("id=\"cost\""), std::string::npos);
  EXPECT_EQ(page.find("<script"), std::string::npos);  // self-contained, static
  const std::string chromium = findChromium();
  if (chromium.empty()) GTEST_SKIP() << "chromium is not installed; the HTML report was generated but not rendered";
  const fs::path png = dir_ / "report.png", profile = dir_ / "profile";
  const std::string flags = " --headless --no-sandbox --disable-gpu --disable-quic --no-first-run "
                            "--disable-background-networking --disable-component-update --disable-sync "
                            "--user-data-dir=" + profile.string();
  Proc shot = sh(chromium + flags + " --screenshot=" + png.string() + " --window-size=1200,900 file://" + html.string(), 90);
  ASSERT_TRUE(fs::exists(png)) << "chromium rc " << shot.rc << ": " << shot.err;
  EXPECT_GT(fs::file_size(png), 20000u);  // a blank 1200x900 PNG compresses to a few KB
  Proc dom = sh(chromium + flags + " --dump-dom file://" + html.string(), 90);
  EXPECT_NE(dom.out.find("<svg"), std::string::npos) << dom.err;
  EXPECT_NE(dom.out.find("<rect"), std::string::npos);
}

}  // namespace
