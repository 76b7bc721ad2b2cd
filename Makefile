# llorch
#   make              demo and test for the CPU
#   make CUDA=1       the same with the CUDA backend (nvcc, cudart)
#   make test         build and run ./test
#   make valgrind     the tests that need no large data, under valgrind
#   make sanitize     the tests (and the server) under AddressSanitizer + UndefinedBehaviorSanitizer
#   make tsan         the concurrency, engine and server tests under ThreadSanitizer
#   make fuzz         libFuzzer targets fuzz_* and their seeds in build/seeds
CC      ?= cc
NVCC    ?= nvcc
CFLAGS  ?= -O3 -march=native
CFLAGS  += -std=c11 -Wall -Wextra -D_GNU_SOURCE -pthread
LDLIBS  += -lm -pthread
HEADERS  = llorch.h tokenizer.h
# sm_90a machine code for Hopper, sm_80 for Ampere, PTX for anything newer
NVFLAGS ?= -O3 -gencode arch=compute_90a,code=sm_90a -gencode arch=compute_80,code=sm_80 \
           -gencode arch=compute_80,code=compute_80
NVFLAGS += -std=c++17 -Xcompiler -Wall,-Wextra

ifeq ($(CUDA),1)
BUILD    = build/cuda
CUDA_HOME ?= $(patsubst %/bin/nvcc,%,$(shell command -v $(NVCC)))
CFLAGS  += -DLLORCH_CUDA
BACKENDS = $(BUILD)/llorch_cpu.o $(BUILD)/llorch_cuda.o
LDLIBS  += -L$(CUDA_HOME)/lib64 -lcudart_static -ldl -lrt -lstdc++
else
BUILD    = build/cpu
BACKENDS = $(BUILD)/llorch_cpu.o
endif

all: demo $(BUILD)/test.stamp

$(BUILD):
	mkdir -p $@

# demo and test are one file for both builds: relink them when the build switches
$(BUILD)/current: | $(BUILD)
	rm -f build/*/current
	touch $@

$(BUILD)/llorch_cpu.o: llorch_cpu.c $(HEADERS) | $(BUILD)
	$(CC) $(CFLAGS) -c llorch_cpu.c -o $@

$(BUILD)/llorch_cuda.o: llorch_cuda.cu $(HEADERS) | $(BUILD)
	$(NVCC) $(NVFLAGS) -c llorch_cuda.cu -o $@

demo: demo.c $(BACKENDS) $(HEADERS) $(BUILD)/current
	$(CC) $(CFLAGS) demo.c $(BACKENDS) -o $@ $(LDLIBS)

# ./test is built by `make` and run by `make test`
$(BUILD)/test.stamp: test.c demo.c $(BACKENDS) $(HEADERS) $(BUILD)/current | $(BUILD)
	$(CC) $(CFLAGS) test.c $(BACKENDS) -o test $(LDLIBS)
	touch $@

test: $(BUILD)/test.stamp build/example
	./test

# the usage example at the top of llorch.h, compiled and linked as written
build/example: llorch.h $(BACKENDS) | $(BUILD)
	sed -n '/^ \* -- example --$$/,/^ \* -- end --$$/p' llorch.h | sed '1d;$$d; s/^ \*   //; s/^ \*$$//' > build/example.c
	$(CC) $(CFLAGS) -I. build/example.c $(BACKENDS) -o $@ $(LDLIBS)

# valgrind does not decode AVX-512: build for AVX2 at -O1
build/test-valgrind: test.c demo.c llorch_cpu.c $(HEADERS) | build/cpu
	$(CC) -O1 -g -mavx2 -mfma -mf16c -std=c11 -Wall -Wextra -D_GNU_SOURCE -DLLORCH_TEST_VALGRIND -pthread test.c llorch_cpu.c \
	    -o $@ $(LDLIBS)

valgrind: build/test-valgrind
	valgrind -q --error-exitcode=1 --leak-check=full --errors-for-leak-kinds=definite \
	    build/test-valgrind tokenizer regex nfc chat sampler generation bad_ config hostile engine serve_parsers

build/test-sanitize: test.c demo.c llorch_cpu.c $(HEADERS) | build/cpu
	$(CC) -O1 -g -march=native -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	    -std=c11 -Wall -Wextra -D_GNU_SOURCE -pthread test.c llorch_cpu.c -o $@ $(LDLIBS)

sanitize: build/test-sanitize build/demo-sanitize
	build/test-sanitize
	LLORCH_SERVE_DEMO=build/demo-sanitize build/test-sanitize serve

# the server, whose threads and sockets only ./test serve exercises, under each sanitizer
build/demo-sanitize: demo.c llorch_cpu.c $(HEADERS) | build/cpu
	$(CC) -O1 -g -march=native -fsanitize=address,undefined -fno-sanitize-recover=all -fno-omit-frame-pointer \
	    -std=c11 -Wall -Wextra -D_GNU_SOURCE -pthread demo.c llorch_cpu.c -o $@ $(LDLIBS)

build/demo-tsan: demo.c llorch_cpu.c $(HEADERS) | build/cpu
	$(CC) -O1 -g -march=native -fsanitize=thread -std=c11 -Wall -Wextra -D_GNU_SOURCE -pthread \
	    demo.c llorch_cpu.c -o $@ $(LDLIBS)

# ThreadSanitizer: sessions generating in several threads on one model, the engine, and the server
build/test-tsan: test.c demo.c llorch_cpu.c $(HEADERS) | build/cpu
	$(CC) -O1 -g -march=native -fsanitize=thread -std=c11 -Wall -Wextra -D_GNU_SOURCE -pthread \
	    test.c llorch_cpu.c -o $@ $(LDLIBS)

tsan: build/test-tsan build/demo-tsan
	TSAN_OPTIONS=halt_on_error=1 build/test-tsan concurrency engine
	TSAN_OPTIONS="halt_on_error=1 exitcode=66" LLORCH_SERVE_DEMO=build/demo-tsan build/test-tsan serve

# libFuzzer targets (clang): ./fuzz_NAME build/seeds/NAME -max_total_time=600
FUZZ_TARGETS = safetensors json config tokenizer encode regex template http request
FUZZ_CC ?= clang
fuzz: $(addprefix fuzz_,$(FUZZ_TARGETS)) build/seeds

fuzz_%: test.c demo.c llorch_cpu.c $(HEADERS)
	$(FUZZ_CC) -O1 -g -march=native -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	    -std=c11 -D_GNU_SOURCE -pthread -DLLORCH_FUZZ=$* test.c -o $@ $(LDLIBS)

build/seeds: $(BUILD)/test.stamp
	./test --write-seeds $@

clean:
	rm -rf build demo test fuzz_*

.PHONY: all test valgrind sanitize tsan fuzz clean
