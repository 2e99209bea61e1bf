# Per-file ISA flags: a source named *_avx512.cpp is compiled for Zen4/Sapphire Rapids class
# AVX-512 (with BF16 and VNNI), *_avx2.cpp for Haswell-class AVX2+FMA. Everything else stays at the
# portable baseline; core/cpu.h picks the variant at run time.
set(CORNERSTONE_AVX512_FLAGS "-mavx512f -mavx512bw -mavx512dq -mavx512vl -mavx512bf16 -mavx512vnni -mavx2 -mfma -mf16c -mbmi2")
set(CORNERSTONE_AVX2_FLAGS "-mavx2 -mfma -mf16c -mbmi2")

function(cornerstone_set_isa_flags sources_var)
  foreach(src IN LISTS ${sources_var})
    if(src MATCHES "_avx512\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_FLAGS "${CORNERSTONE_AVX512_FLAGS}")
    elseif(src MATCHES "_avx2\\.cpp$")
      set_source_files_properties(${src} PROPERTIES COMPILE_FLAGS "${CORNERSTONE_AVX2_FLAGS}")
    endif()
  endforeach()
endfunction()
