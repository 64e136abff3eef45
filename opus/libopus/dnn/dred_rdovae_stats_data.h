/* Auto generated from checkpoint rdovae_sparse5m_32.pth */


#ifndef DRED_RDOVAE_STATS_DATA_H
#define DRED_RDOVAE_STATS_DATA_H

#include "nnet.h"


#include "opus_types.h"

#include "dred_rdovae_constants.h"


extern const opus_uint8 dred_latent_quant_scales_q8[336];
extern const opus_uint8 dred_latent_dead_zone_q8[336];
extern const opus_uint8 dred_latent_r_q8[336];
extern const opus_uint8 dred_latent_p0_q8[336];


extern const opus_uint8 dred_state_quant_scales_q8[304];
extern const opus_uint8 dred_state_dead_zone_q8[304];
extern const opus_uint8 dred_state_r_q8[304];
extern const opus_uint8 dred_state_p0_q8[304];


#endif /* DRED_RDOVAE_STATS_DATA_H */
