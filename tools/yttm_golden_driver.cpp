// Scratch driver around YouTokenToMe's C++ core (not part of dalle-vk): train a model, encode hex lines.
#include <fstream>
#include <iostream>
#include <sstream>
#include "youtokentome/cpp/bpe.h"
using namespace vkcom;
static std::string unhex(const std::string &h) {
  std::string s;
  for (size_t i = 0; i + 1 < h.size(); i += 2) s.push_back((char)std::stoi(h.substr(i, 2), nullptr, 16));
  return s;
}
int main(int argc, char **argv) {
  std::string mode = argv[1];
  if (mode == "train") {
    BpeConfig cfg(std::stod(argv[5]), 1, SpecialTokens(0, 1, 2, 3));
    Status s = train_bpe(argv[2], argv[3], std::stoi(argv[4]), cfg);
    if (!s.ok()) { std::cerr << s.message << "\n"; return 1; }
    return 0;
  }
  Status st;
  BaseEncoder enc(argv[2], 1, &st);
  if (!st.ok()) { std::cerr << st.message << "\n"; return 1; }
  std::ifstream in(argv[3]);
  std::string line;
  while (std::getline(in, line)) {
    std::vector<std::vector<int>> ids;
    enc.encode_as_ids({unhex(line)}, &ids);
    std::cout << line << "\t";
    for (size_t i = 0; i < ids[0].size(); i++) std::cout << (i ? " " : "") << ids[0][i];
    std::cout << "\n";
  }
  return 0;
}
