/*
 * btyd_model.h -- the stored form of segment.bgnbd_model,
 * segment.gammagamma_model and segment.paretonbd_model.
 */
#ifndef SEGMENT_BTYD_MODEL_H
#define SEGMENT_BTYD_MODEL_H

#include "postgres.h"

#include "predict/btyd.h"

typedef enum BtydKind
{
	BTYD_BGNBD = 0,
	BTYD_GAMMAGAMMA = 1,
	BTYD_PARETONBD = 2
} BtydKind;

typedef struct BtydModel
{
	int32		vl_len_;
	int32		kind;			/* BtydKind */
	int32		iterations;
	bool		converged;
	int64		customers;
	float8		log_likelihood;
	float8		params[4];		/* BG/NBD r, alpha, a, b; Gamma-Gamma p, q, gamma;
								 * Pareto/NBD r, alpha, s, beta */
} BtydModel;

extern BtydModel *btyd_model_make(BtydKind kind, const BtydFit *fit);
extern void btyd_check_summary(const char *function, float8 x, float8 t_x, float8 T);

#endif
