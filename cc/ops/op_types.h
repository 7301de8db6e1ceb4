// Key and value dtype lists of the table ops' attrs (one place, so every op
// accepts the same types the kernels register; table_resource.h holds the
// matching kernel type lists).
#ifndef TFRA_CC_OPS_OP_TYPES_H_
#define TFRA_CC_OPS_OP_TYPES_H_

#define TFRA_KEY_TYPES "{int32, int64, string}"
#define TFRA_VALUE_TYPES "{float, half, bfloat16, double, int8, int32, int64, bool}"

#endif  // TFRA_CC_OPS_OP_TYPES_H_
